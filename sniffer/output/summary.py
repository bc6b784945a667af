"""One line per frame straight from the dissector, for reading a file headlessly.

The summary (`mqttsniff -r FILE`) and `-T fields` print one line per frame and keep
nothing. `SummaryDissector` runs the very same `Dissector.frame()` (link/IP/TCP parse,
reassembly, MQTT framing) but hands the row's fields to a formatter instead of `Frame`,
so frame() returns the line without a Frame, its lazy properties or a Printer call per
frame; the Source, Destination and Protocol columns are formatted once per stream direction.
`FieldsDissector` does the same for the common `-T fields` columns (frame number, length and times,
MQTT message types, topics and ids, and the link/IP/TCP fields of sniffer.output.net_fast), falling
back to a Frame and the FieldPrinter where a frame needs its tree.
sniffer.driver runs it (its LineSink writes the lines a batch at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from sniffer.mqtt.decoder import PDU
from sniffer.mqtt.skim import filter_topics
from sniffer.net.frame import addr_str
from sniffer.net.reassembly import Seg
from sniffer.net.tree import ns_seconds, seconds9
from sniffer.output.net_fast import NET_FAST, ONE_CODE, Headers, cell, headers_of
from sniffer.output.text import summary_head, summary_head_ns, summary_mid
from sniffer.pipeline import DEFAULT_MAX_BUFFERED, DEFAULT_MAX_PDU, DEFAULT_PORTS, Frame, RowDissector, frame_info
from sniffer.session.backfill import Backfill
from sniffer.textesc import escape

# Where tshark prints "\u2192" (between addresses, between ports), a summary line holds this ASCII mark,
# and the LineSink that writes it puts the arrow's bytes in its place (sniffer.driver): one such
# character made the whole line a 2-byte-per-character string, whose building and encoding took ~11 %
# of a line (bench/RESULTS.md, section 1c). No line holds a control character otherwise: every text
# from the wire is escaped where it is made (sniffer.textesc).
ARROW_MARK: Final = "\x1f"


class SummaryDissector(RowDissector[str]):
    """A Dissector whose frame() returns the tshark summary line of the frame (a str), each arrow in it
    as ARROW_MARK (LineSink(arrow_mark=ARROW_MARK) writes it)."""

    def __init__(
        self,
        mqtt_ports: Iterable[int] = DEFAULT_PORTS,
        max_pdu: int = DEFAULT_MAX_PDU,
        detect: bool = True,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        sessions: bool = False,
        prefill: Backfill | None = None,
    ) -> None:
        # The summary line shows nothing of the session layer: it runs only when asked for (-2 does,
        # handing the first pass's record over as `prefill`).
        super().__init__(mqtt_ports, max_pdu, detect, max_buffered, sessions, False, prefill)
        # 8 * stream + 4 * direction + a code of the protocol -> Source, Destination and Protocol columns
        self._mids: dict[int, str] = {}

    def _row(
        self,
        number: int,
        ts: float,
        rel_ts: float,
        delta: float,
        linktype: int,
        data: bytes,
        orig_len: int,
        proto: str,
        info: str | int,
        stream: int = -1,
        seg: Seg | None = None,
        pdus: list[PDU] | None = None,
        addrs: tuple[int, bytes, bytes] | None = None,
        toff: int = -1,
        src: str = "",
        dst: str = "",
    ) -> str:
        """Frame's arguments in, summary_line() of that Frame out (its arrows as ARROW_MARK)."""
        mid: str | None
        if seg is None or addrs is None:
            mid = summary_mid(src, dst, proto, ARROW_MARK)
        else:
            # cached for these protocols; others vary within a stream (TLSv1.3, HTTP, WebSocket): comparisons,
            # not a dict, on this path of every frame
            if proto == "MQTT":
                code = 1
            elif proto == "TCP":
                code = 0
            elif proto == "MQTT/JSON":
                code = 2
            else:
                code = 3 if proto == "MQTT/XML" else -1
            key = 8 * stream + 4 * seg.direction + code
            mid = self._mids.get(key)
            varies = code < 0
            if mid is None or varies:
                src, dst = addr_str(addrs[0], addrs[1]), addr_str(addrs[0], addrs[2])
                mid = summary_mid(src, dst, proto, ARROW_MARK)
                if not varies:
                    self._mids[key] = mid
        if not isinstance(info, str):
            info = frame_info(info, pdus, seg, toff, data, linktype, ARROW_MARK)
        if self.row_ns is None:
            head = summary_head(number, rel_ts)
        else:
            head = summary_head_ns(number, self.row_rel_ns, self.row_digits)
        return f"{head}{mid}{orig_len} {info}"


# -T fields columns a FieldsDissector writes itself (sniffer.output.fields.FieldPrinter.direct says when)
_TIMES: Final = ("frame.time_epoch", "frame.time_relative", "frame.time_delta")
DIRECT_FIELDS: Final = ("frame.number", "frame.len", "mqtt.msgtype", "mqtt.topic", "mqtt.msgid", *_TIMES, *NET_FAST)
_NET_AT: Final = 5 + len(_TIMES)  # the code of the first NET_FAST field


def pdu_topics(pdus: list[PDU]) -> list[str]:
    """mqtt.topic of well-formed PDUs, escaped as -T fields prints them: a PUBLISH's topic, the
    topic filters of a (UN)SUBSCRIBE."""
    out: list[str] = []
    for p in pdus:
        t = p.msgtype
        if t == 3:
            if p.topic is not None:
                out.append(escape(p.topic))
        elif t == 8 or t == 10:
            out.extend([escape(x) for x in filter_topics(p.data, p.hdr_len, t, p.version)])
    return out


def _joined(values: Callable[[Headers], list[str]], aggregator: str) -> Callable[[Headers], str]:
    return lambda h: aggregator.join(values(h))


class FieldsDissector(RowDissector[str]):
    """A Dissector whose frame() returns the `-T fields` line of the frame (a str), for fields among
    DIRECT_FIELDS printed every occurrence, unquoted: the line FieldPrinter._line_quick makes of a
    Frame, without the Frame. A frame that needs its tree (a malformed PDU, the notes of an MQTT
    connection's end, with link/IP/TCP fields one that is not plain: an IPv4 fragment, no TCP segment) is
    made a Frame and handed to `line` (the FieldPrinter's)."""

    def __init__(
        self,
        mqtt_ports: Iterable[int],
        fields: list[str],
        line: Callable[[Frame], str],
        separator: str = "\t",
        aggregator: str = ",",
        max_pdu: int = DEFAULT_MAX_PDU,
        detect: bool = True,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        sessions: bool = False,
        prefill: Backfill | None = None,
    ) -> None:
        # (no **kw: the compiled build passed them on wrongly)
        super().__init__(mqtt_ports, max_pdu, detect, max_buffered, sessions, False, prefill)
        self._codes = [DIRECT_FIELDS.index(f) for f in fields]  # ValueError for any other field
        # each header field's cell: the single-valued ones by their code in net_fast.cell (called natively),
        # the others (ip.addr, ipv6.addr, tcp.port) joined
        net = DIRECT_FIELDS[_NET_AT:]
        self._one = [ONE_CODE.get(f, -1) for f in net]
        self._net = [_joined(NET_FAST[f], aggregator) for f in net]
        self._wants_headers = any(c >= _NET_AT for c in self._codes)
        self._line = line
        self._sep = separator
        self._agg = aggregator

    def _row(
        self,
        number: int,
        ts: float,
        rel_ts: float,
        delta: float,
        linktype: int,
        data: bytes,
        orig_len: int,
        proto: str,
        info: str | int,
        stream: int = -1,
        seg: Seg | None = None,
        pdus: list[PDU] | None = None,
        addrs: tuple[int, bytes, bytes] | None = None,
        toff: int = -1,
        src: str = "",
        dst: str = "",
    ) -> str:
        held, self.held_secret = self.held_secret, ()
        slow = seg is not None and bool(seg.session_notes)
        h = None
        if self._wants_headers and not slow:
            h = headers_of(data, linktype, seg)
            slow = h is None  # not a plain frame (sniffer.output.net_fast): its tree says
        if pdus and not slow:
            for p in pdus:
                if p.error is not None:
                    slow = True
                    break
        if slow:
            fr = Frame(
                number, ts, rel_ts, delta, linktype, data, orig_len, proto, info, stream, seg, pdus, addrs, toff, src,
                dst, held,
            )  # fmt: skip
            fr.exact = self.row_exact()
            return self._line(fr)
        cells: list[str] = []
        agg = self._agg
        for code in self._codes:
            if code == 0:
                cells.append(str(number))
            elif code == 1:
                cells.append(str(orig_len))
            elif code >= _NET_AT:
                assert h is not None
                one = self._one[code - _NET_AT]
                cells.append(cell(one, h) if one >= 0 else self._net[code - _NET_AT](h))
            elif code >= 5:
                if self.row_ns is None:
                    cells.append(seconds9(ts if code == 5 else rel_ts if code == 6 else delta))
                else:
                    cells.append(
                        ns_seconds(self.row_ns if code == 5 else self.row_rel_ns if code == 6 else self.row_delta_ns)
                    )
            elif not pdus:
                cells.append("")
            elif code == 2:
                cells.append(agg.join([str(p.msgtype) for p in pdus]))
            elif code == 3:
                cells.append(agg.join(pdu_topics(pdus)))
            else:
                cells.append(agg.join([str(p.msgid) for p in pdus if p.msgid >= 0]))
        return self._sep.join(cells)
