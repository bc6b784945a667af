"""How tshark's hand-offs show in a TLS frame's frame.protocols and Protocol column: TCP hands TLS a record
finished from earlier segments apart from the rest of the segment, TLS hands MQTT each record's plaintext
apart (a PDU finished from earlier records apart from what follows it), and a dissector that finished a
reassembled PDU with more data behind it makes the Protocol column read-only for the rest of the frame.

Read from what TlsConnection.feed left on the segment (seg.tls, sniffer.tls.conn) and the PDUs' spans: each
record's plaintext is fed to the MQTT decoder apart, tagged (-frame, offset of the record's plaintext)."""

from __future__ import annotations

from typing import Any

from sniffer.mqtt import dissect as mqtt_dissect

Group = list  # PDUs one hand-off of TLS to MQTT completes


def _records_groups(tls: tuple, pdus: list) -> list[tuple[int, list[Group]]]:
    """[(record index, its MQTT groups)] in record order, every record of the frame listed."""
    records = tls[0]
    at = {r[6]: i for i, r in enumerate(records) if r[6] >= 0}  # plaintext offset -> record
    out: list[tuple[int, list[Group]]] = [(i, []) for i in range(len(records))]
    last = len(records) - 1
    key: object = None
    for pdu in pdus:
        spans = pdu.spans
        tag = spans[-1][0] if spans else None
        i = at.get(tag[1], last) if tag is not None else last
        if i < 0:
            continue
        k = object() if len(spans) > 1 else tag  # (a PDU finished from earlier records: a hand-off of its own)
        groups = out[i][1]
        if groups and k == key:
            groups[-1].append(pdu)
        else:
            groups.append([pdu])
        key = k
    return out


def handoffs(tls: tuple, pdus: list) -> list[list[Group]]:
    """The hand-offs of TCP to TLS in this frame, each as the list of its MQTT groups (frame.protocols lists
    `tls` per hand-off and `mqtt` per group): one for a segment that only begins a record, none for one
    that only continues a record."""
    split, rest = tls[5][0], tls[5][1]
    per_record = _records_groups(tls, pdus)
    parts = [per_record[:split], per_record[split:]] if split else [per_record]
    if split and not rest:
        parts.pop()
    return [[g for _i, groups in part for g in groups] for part in parts]


def column(tls: tuple, pdus: list, last: str) -> str:
    """The Protocol column of a TLS frame with MQTT PDUs: the last PDU's (`last`), unless a hand-off finished
    a reassembled PDU or record with more behind it, which leaves the column as it then was."""
    records, proto = tls[0], tls[2]
    split, rest = tls[5][0], tls[5][1]
    col = last
    for i, groups in _records_groups(tls, pdus):
        r = records[i]
        if not groups:
            col = proto  # (a record without a whole PDU: TLS names the column after its version)
        for g in groups:
            col = mqtt_dissect.protocol(g)
            first = g[0]
            if len(first.spans) > 1 and _more_after(r, g[-1]):
                return col  # TLS: another PDU (or a PDU's start) follows a reassembled one in this record
        if split and i == split - 1 and rest:
            return col  # TCP: more of the segment follows the record it reassembled
    return col


def _more_after(record: tuple, pdu: Any) -> bool:
    """Whether the record's plaintext holds bytes after this PDU's end."""
    _tag, chunk_off, _pdu_off, length = pdu.spans[-1]
    return chunk_off + length < record[7]
