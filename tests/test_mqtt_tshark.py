"""The public captures decoded by our MQTT dissector and by tshark agree: the Info
text of every frame and every mqtt.* field Wireshark registers, frame by frame.

TCP payloads are taken from tshark (tcp.payload with raw sequence numbers) so this
test checks the MQTT layer alone; retransmissions are trimmed and holes become
gap() calls, the way the pipeline's reassembly feeds the decoder.
Known differences, where Wireshark 4.0 is wrong, are named below and asserted.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections import defaultdict

from conftest import REPO

from sniffer.mqtt.decoder import DirectionDecoder, Session
from sniffer.mqtt.dissect import dissect, info

# Expert-info pseudo fields and subtree labels carry no value in `-T fields`.
_SKIP = {"mqtt.illegal_topic_length", "mqtt.unknown_version", "mqtt.unknown_topic_alias"}


def _wireshark_fields(tshark: str) -> list[str]:
    out = subprocess.run([tshark, "-G", "fields"], capture_output=True, text=True, check=True).stdout
    names = []
    for line in out.splitlines():
        f = line.split("\t")
        if f[0] == "F" and f[2].startswith("mqtt.") and f[2] not in _SKIP and f[3] != "FT_NONE":
            names.append(f[2])
    return names


def _decode(tshark: str, path) -> dict[int, list]:
    out = subprocess.run(
        [tshark, "-r", str(path), "-Y", "tcp", "-T", "fields"]
        + sum((["-e", f] for f in ("frame.number", "tcp.stream", "tcp.dstport", "tcp.seq_raw", "tcp.flags.syn")), [])
        + ["-e", "tcp.payload"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sessions: dict[int, Session] = {}
    decoders: dict[tuple[int, bool], DirectionDecoder] = {}
    expect: dict[tuple[int, bool], int] = {}
    frames: dict[int, list] = defaultdict(list)
    for line in out.splitlines():
        num, stream, dport, seq, syn, hexdata = line.split("\t")
        num, seq = int(num), int(seq)
        key = (int(stream), int(dport) == 1883)
        session = sessions.setdefault(key[0], Session())
        dec = decoders.setdefault(key, DirectionDecoder(session, key[1]))
        if syn in ("1", "True"):
            expect[key] = seq + 1
            continue
        payload = bytes.fromhex(hexdata) if hexdata else b""
        if not payload:
            continue
        want = expect.get(key, seq)
        if seq > want:
            dec.gap(seq - want)
        elif seq < want:
            if want - seq >= len(payload):
                continue
            payload, seq = payload[want - seq :], want
        expect[key] = seq + len(payload)
        dec.feed(payload, num)
        while (p := dec.next_pdu()) is not None:
            frames[p.spans[-1][0]].append(p)
    return frames


def _tshark_frames(tshark: str, path, fields: list[str]) -> dict[int, dict[str, str]]:
    args = [tshark, "-r", str(path), "-Y", "mqtt", "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        cols = line.split("\t")
        row = {f: v for f, v in zip(fields, cols[2:], strict=True) if v}
        # tshark prefixes TCP analysis notes to the Info column; only MQTT's part is ours.
        row["info"] = cols[1].split("] , ")[-1] if cols[1].startswith("[TCP") else cols[1]
        res[int(cols[0])] = row
    return res


def _ours(frames: dict[int, list], fields: list[str]) -> dict[int, dict[str, str]]:
    wanted = set(fields)
    res = {}
    for num, pdus in frames.items():
        values: dict[str, list[str]] = defaultdict(list)
        for p in pdus:
            for n in dissect(p).walk():
                fd = n.fdef
                if fd is None or n.severity is not None or fd.abbrev not in wanted:
                    continue
                # tshark prints an empty FT_BYTES field as "<MISSING>", and so does FieldDef.tshark()
                values[fd.abbrev].append(fd.tshark(n.value))
        row = {k: ",".join(v) for k, v in values.items() if any(v)}
        row["info"] = ", ".join(info(p) for p in pdus)[:4095]
        res[num] = row
    return res


# Wireshark 4.0 shows a multi-byte property-length varint as its raw bytes read big-endian
# (0xff 0x21 -> 65313) instead of its value (0x7f + 0x21 * 128 = 4351); we decode the value.
def _raw_varint_bytes(value: int) -> int:
    enc = bytearray()
    while True:
        b, value = value & 0x7F, value >> 7
        enc.append(b | (0x80 if value else 0))
        if not value:
            return int.from_bytes(enc, "big")


def test_corpus_matches_tshark(tshark, corpus_files):
    fields = _wireshark_fields(tshark)
    assert "mqtt.topic" in fields and "mqtt.property_len" in fields and len(fields) > 60
    compared = 0
    for path in corpus_files:
        theirs = _tshark_frames(tshark, path, fields)
        ours = _ours(_decode(tshark, path), fields)
        assert set(ours) == set(theirs), path.name
        for num, row in theirs.items():
            mine = ours[num]
            if "mqtt.property_len" in mine and mine["mqtt.property_len"] != row.get("mqtt.property_len"):
                mine["mqtt.property_len"] = ",".join(
                    str(_raw_varint_bytes(int(v))) for v in mine["mqtt.property_len"].split(",")
                )
            assert mine == row, (path.name, num)
            compared += len(row)
    assert compared > 300


def test_wireshark_property_length_quirk_is_real(tshark, corpus_files):
    """The quirk we allow above occurs in the corpus and our value is the spec's."""
    path = next(p for p in corpus_files if "excessive-property-length" in p.name)
    frames = _decode(tshark, path)
    (pdu,) = frames[4]
    assert pdu.error is not None and "property length 4351" in pdu.error
    assert pdu.data[12:14] == b"\xff\x21"  # 0x7f | 0x21 << 7 == 4351
    assert _tshark_frames(tshark, path, ["mqtt.property_len"])[4]["mqtt.property_len"] == "65313"


def test_empty_message_prints_missing_in_tshark(tshark, corpus_files):
    """tshark's own output for an empty PUBLISH payload is "<MISSING>"; so is ours."""
    path = next(p for p in corpus_files if "SYNTHETIC" in p.name)
    rows = _tshark_frames(tshark, path, ["mqtt.msg"])
    assert "<MISSING>" in {r.get("mqtt.msg") for r in rows.values()}
    from sniffer.mqtt import fields as F

    assert F.MSG.tshark(b"") == "<MISSING>"


def test_verbose_bytes_labels_are_tsharks(tshark, corpus_files):
    """Every bytes field's -V label (a PUBLISH's Message, binary properties) is tshark's, from its PDML: the
    first 36 bytes in hex and "…" after them, so a 100 KB payload is an 88-byte line, not a 200,000-character one.
    -T fields keeps the whole value."""
    g = subprocess.run([tshark, "-G", "fields"], capture_output=True, text=True, check=True).stdout
    rows = (ln.split("\t") for ln in g.splitlines())
    byte_fields = {f[2] for f in rows if len(f) > 3 and f[2].startswith("mqtt.") and f[3] == "FT_BYTES"}
    assert "mqtt.msg" in byte_fields
    checked, cut = 0, 0
    for path in corpus_files:
        pdml = subprocess.run([tshark, "-r", str(path), "-T", "pdml"], capture_output=True, text=True, check=True)
        labels = [
            html.unescape(showname)
            for name, showname in re.findall(r'<field name="([^"]+)" showname="([^"]*)"', pdml.stdout)
            if name in byte_fields
        ]
        if not labels:
            continue
        ours = subprocess.run(
            [sys.executable, "-m", "sniffer", "-r", str(path), "-V", "--show-secrets"],
            capture_output=True, text=True, check=True, cwd=REPO,
        ).stdout  # fmt: skip
        lines = {ln.strip() for ln in ours.splitlines()}
        for label in labels:
            assert label in lines, (path.name, label[:120])
            checked += 1
            cut += label.endswith("…")
        names = tuple({label.split(": ", 1)[0] + ": " for label in labels})
        assert max(len(ln) for ln in lines if ln.startswith(names)) < 100, path.name  # none holds a whole payload
    assert checked >= 20 and cut >= 3, (checked, cut)  # short values whole, long ones cut, both really occur
    big = next(p for p in corpus_files if "100KB" in p.name)
    whole = subprocess.run(
        [sys.executable, "-m", "sniffer", "-r", str(big), "-T", "fields", "-e", "mqtt.msg"],
        capture_output=True, text=True, check=True, cwd=REPO,
    ).stdout  # fmt: skip
    assert max(len(ln) for ln in whole.splitlines()) == 100_000 * 2  # the 100,000-byte payload whole in hex
