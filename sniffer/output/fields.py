"""`-T fields -e FIELD`: tab-separated values exactly as `tshark -T fields` prints them.

A field occurring several times in a frame (several PDUs, several properties)
has its values joined by the aggregator (',' by default, tshark's -E aggregator).
Columns (`_ws.col.*`) and frame.* fields come from the summary row; MQTT
message types from the framed PDUs; addresses, ports and the like from a plain
frame's headers (sniffer.output.net_fast); anything else from the on-demand tree
of only the protocols the requested fields belong to.

Values from the wire are escaped as tshark 4.0 escapes them (\b \t \n \f \r), and
further: the controls tshark writes raw (ESC, BEL, C1 controls, bidi overrides, …) are
escaped as in its -V tree (sniffer.textesc), so a value can neither forge a row or a
column nor drive the terminal of whoever reads the output.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from sniffer.fields import FT, REGISTRY, Base, Node
from sniffer.net.tree import ns_decimal, ns_seconds, seconds9, ts_decimal
from sniffer.output.net_fast import NET_FAST, headers
from sniffer.output.summary import DIRECT_FIELDS, pdu_topics
from sniffer.output.text import MASK, masked_hex, secret_ranges
from sniffer.payload import CREDENTIAL_PROTOCOLS
from sniffer.payload import layers_for as payload_layers
from sniffer.payload.fields import PAYLOAD_PROTOCOLS
from sniffer.session import fields as SF
from sniffer.textesc import escape

COLUMNS: dict[str, Callable] = {
    "_ws.col.No.": lambda f: str(f.number),
    "_ws.col.number": lambda f: str(f.number),
    "_ws.col.Time": lambda f: f"{f.rel_ts:.6f}" if f.exact is None else ns_seconds(f.exact[1], f.exact[3]),
    "_ws.col.Source": lambda f: f.src,
    "_ws.col.Destination": lambda f: f.dst,
    "_ws.col.Protocol": lambda f: f.proto,
    "_ws.col.Length": lambda f: str(f.orig_len),
    "_ws.col.Info": lambda f: f.info,  # its topics come escaped (mqtt.dissect.info)
}


def _frame_fast(abbrev: str) -> Callable | None:
    """Frame fields answered from the summary row, without building a tree."""
    fd = REGISTRY.get(abbrev)
    if fd is None:
        return None
    if abbrev == "frame.cap_len":
        return lambda f: str(len(f.data))
    if abbrev == "frame.time":  # the tree's value, shown as the tree's item is (local time, tshark's format)
        show = fd.tshark
        return lambda f: escape(show(ts_decimal(f.ts) if f.exact is None else ns_decimal(f.exact[0])))
    attr = {
        "frame.number": "number",
        "frame.time_relative": "rel_ts",
        "frame.time_delta": "delta",
        "frame.time_epoch": "ts",
        "frame.len": "orig_len",
    }.get(abbrev)
    if attr is None:
        return None
    fmt = fd.tshark
    if (fd.ftype is FT.UINT or fd.ftype is FT.INT) and fd.base is not Base.HEX:
        get = attrgetter(attr)
        return lambda f: str(get(f))  # what fd.tshark() prints for a decimal integer
    if fd.ftype is FT.DOUBLE:
        # what the tree shows (sniffer.net.tree.seconds9): a float epoch printed to 9 digits carries
        # noise below the microsecond (1717000000.011348009) that tshark's times do not
        get_ts = attrgetter(attr)
        at = ("ts", "rel_ts", "delta").index(attr)  # where a nanosecond capture's Frame.exact holds it
        return lambda f: seconds9(get_ts(f)) if f.exact is None else ns_seconds(f.exact[at])
    return lambda f: fmt(getattr(f, attr))


def _simple(pdu) -> bool:
    """A PDU whose framing-time attributes say all its tree would: a well-formed one.

    A PUBLISH whose topic came from an MQTT 5 Topic Alias has one mqtt.topic item in the
    tree holding pdu.topic (the resolved topic, "" if the alias was unknown), as any other
    PUBLISH; (UN)SUBSCRIBE topic filters are read by skim.filter_topics."""
    return pdu.error is None


def _from_ann(fd: Any, attr: str, shown: Callable[[Any], bool], text: bool = False) -> Callable:
    """A session field read from the PDUs' annotations (pdu.ann), in the order and on the
    condition the tree shows it (sniffer.session.tree.annotate)."""
    show = fd.tshark
    get = attrgetter(attr)
    if text:
        return lambda pdus: [escape(show(v)) for p in pdus if p.ann is not None and shown(v := get(p.ann))]
    return lambda pdus: [show(v) for p in pdus if p.ann is not None and shown(v := get(p.ann))]


def _published(pdus) -> list[Any]:
    return [p.ann for p in pdus if p.ann is not None and (p.ann.publisher is not None or p.ann.published_in)]


_SET = (lambda v: v is not None, lambda v: bool(v), lambda v: v >= 0)
_show_fanout = SF.FANOUT_DELAY.tshark

# MQTT fields answered from the PDUs the framing produced (and their session annotations), for
# frames whose PDUs are all _simple(); tests/test_output_fields.py checks they equal the tree's answer.
PDU_FAST: dict[str, Callable] = {
    "mqtt.msgtype": lambda pdus: [str(p.msgtype) for p in pdus],
    "mqtt.topic": pdu_topics,
    "mqtt.msgid": lambda pdus: [str(p.msgid) for p in pdus if p.msgid >= 0],
    "mqtt.client": _from_ann(SF.CLIENT, "client", _SET[0], text=True),
    "mqtt.client.username": _from_ann(SF.USERNAME, "username", _SET[0], text=True),
    "mqtt.client.version": _from_ann(SF.VERSION, "version", _SET[1]),
    "mqtt.direction": _from_ann(SF.DIRECTION, "direction", lambda v: True),
    "mqtt.response_in": _from_ann(SF.RESPONSE_IN, "response_in", _SET[1]),
    "mqtt.response_to": _from_ann(SF.RESPONSE_TO, "response_to", _SET[1]),
    "mqtt.time": _from_ann(SF.TIME, "time", _SET[2]),
    "mqtt.flow_time": _from_ann(SF.FLOW_TIME, "flow_time", _SET[2]),
    "mqtt.publisher": _from_ann(SF.PUBLISHER, "publisher", _SET[0], text=True),
    "mqtt.published_in": lambda pdus: [str(a.published_in) for a in _published(pdus)],
    "mqtt.fanout_delay": lambda pdus: [_show_fanout(a.fanout_delay) for a in _published(pdus)],
    "mqtt.delivered_in": lambda pdus: [str(f) for p in pdus if p.ann is not None for f in p.ann.delivered_in],
}


class UnknownField(ValueError):
    """A requested field that no dissector registers; carries close matches."""

    def __init__(self, name: str) -> None:
        self.name = name
        import difflib  # only for this error (it costs every start-up a millisecond otherwise)

        self.suggestions = difflib.get_close_matches(name, list(REGISTRY) + list(COLUMNS), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(self.suggestions)}?)" if self.suggestions else ""
        super().__init__(f"unknown field '{name}'{hint}")


def check_fields(names: list[str]) -> None:
    for name in names:
        if name not in REGISTRY and name not in COLUMNS:
            raise UnknownField(name)


def collect(nodes: list[Node], wanted: set[str], show_secrets: bool, frame: Any = None) -> dict[str, list[str]]:
    """Every occurrence of the wanted fields in a tree, formatted as tshark does."""
    found: dict[str, list[str]] = {}
    masked: dict[int, list[tuple[int, int]]] | None = {} if show_secrets else None  # made when first needed
    stack = list(reversed(nodes))
    while stack:
        n = stack.pop()
        fd = n.fdef
        if fd is not None and fd.abbrev in wanted:
            if fd.secret and not show_secrets:
                s = MASK
            elif fd.ftype is FT.PROTOCOL:  # tshark prints a protocol item's summary line, a hidden one's name
                s = fd.abbrev if n.hidden else escape(n.text)
            elif fd.ftype is FT.BYTES:  # a bytes item covering a secret (tcp.payload of a CONNECT) shows ** there
                if masked is None:  # the secrets are MQTT items: the tree asked for may not hold them
                    masked = secret_ranges(frame.tree(("mqtt",)) if frame is not None else nodes, frame)
                s = masked_hex(n, masked) or fd.tshark(n.value)
            else:
                s = escape(fd.tshark(n.value))
            found.setdefault(fd.abbrev, []).append(s)
        if n.children:
            stack.extend(reversed(n.children))
    return found


def _session_end(frame: Any) -> bool:
    """A TCP frame that carries the notes of an MQTT connection's end (no PDU, but MQTT items)."""
    seg = frame.seg
    return seg is not None and bool(seg.session_notes)


class FieldPrinter:
    """Formats one line per frame for `-T fields`."""

    def __init__(
        self,
        names: list[str],
        show_secrets: bool = False,
        separator: str = "\t",
        aggregator: str = ",",
        occurrence: str = "a",
        quote: str = "",
    ) -> None:
        check_fields(names)
        self.names = names
        self.show_secrets = show_secrets
        self.separator = separator
        self.aggregator = aggregator
        self.occurrence = occurrence
        self.quote = quote
        self.fast: dict[str, Callable] = {}
        # link/IP/TCP fields read from a plain frame's headers (sniffer.output.net_fast); from the tree
        # with the others when the frame is not plain
        self.net: dict[str, Callable] = {}
        tree_fields: set[str] = set()
        for name in names:
            fn = COLUMNS.get(name) or _frame_fast(name)
            if fn is not None:
                self.fast[name] = fn
            else:
                tree_fields.add(name)
                if name in NET_FAST:
                    self.net[name] = NET_FAST[name]
        self.tree_fields = tree_fields
        self.all_protocols = self._protocols(tree_fields)  # the tree of a frame that is not plain
        rest = tree_fields - self.net.keys()  # what the tree answers on a plain frame too
        self.rest = rest
        self.pdu_fast = bool(rest) and rest <= PDU_FAST.keys()
        self.protocols = self._protocols(rest)
        # fields that only PDUs carry: a frame without one has none of them, no tree built
        self.pdu_only = self.protocols <= {"mqtt", "payload", *PAYLOAD_PROTOCOLS, *CREDENTIAL_PROTOCOLS}
        if occurrence in ("a", "0") and not quote and (not rest or self.pdu_fast):
            # Every value of every field, unquoted, nothing that needs a tree on well-formed
            # PDUs and plain frames: a line is the fast cells and the joined values (see _line_quick).
            self._cols = [(self.fast.get(name), PDU_FAST.get(name), self.net.get(name)) for name in names]
            self.line = self._line_quick  # type: ignore[method-assign]

    @staticmethod
    def _protocols(fields: set[str]) -> set[str]:
        """The layers frame.tree() must build to hold `fields`."""
        protocols = {n.split(".", 1)[0] for n in fields}
        for n in fields:  # a decoded payload's fields need the MQTT tree with its payloads decoded
            protocols |= payload_layers(n)
        if protocols & {"ip", "ipv6", "tcp", "eth", "vlan", "sll", "null", "raw"}:
            protocols.add("frame")  # the link/IP/TCP layers are built together
        if "frame.protocols" in fields:
            protocols.add("frame.protocols")  # (its payload layers are worked out only when asked: sniffer.pipeline)
        if any(n.startswith(("tcp.segment", "tcp.reassembled")) and n != "tcp.segment_data" for n in fields):
            protocols.add("mqtt")  # (the "[N Reassembled TCP Segments]" item sits beside the MQTT layer)
        return protocols

    @property
    def direct(self) -> bool:
        """The lines are _line_quick's of fields that sniffer.output.summary.FieldsDissector writes
        without a Frame (the same lines)."""
        return self.line == self._line_quick and all(n in DIRECT_FIELDS for n in self.names)

    def header(self) -> str:
        return self.separator.join(self.names)

    def _pick(self, values: list[str]) -> str:
        if not values:
            return ""
        occ = self.occurrence
        if occ == "f":
            values = values[:1]
        elif occ == "l":
            values = values[-1:]
        elif occ not in ("a", "0"):
            k = int(occ)
            values = values[k - 1 : k] if 0 < k <= len(values) else []
        if not values:
            return ""
        if self.quote:
            # tshark quotes the cell, not each occurrence: "10,10", not "10","10"
            return f"{self.quote}{self.aggregator.join(values)}{self.quote}"
        return self.aggregator.join(values)

    def _line_quick(self, frame) -> str:
        """line() when _pick() reduces to joining (see __init__); falls back to line() for
        frames with a malformed PDU, whose values come from the tree."""
        if _session_end(frame):  # the [MQTT session] items of a connection's end: from the tree
            return FieldPrinter.line(self, frame)
        h = None
        if self.net:
            h = headers(frame)
            if h is None:  # not a plain frame: its tree says
                return FieldPrinter.line(self, frame)
        pdus = frame.pdus
        agg = self.aggregator
        if not pdus:
            return self.separator.join(
                [fn(frame) if fn is not None else agg.join(nf(h)) if nf is not None else "" for fn, _, nf in self._cols]
            )
        for p in pdus:
            if p.error is not None:  # not _simple()
                return FieldPrinter.line(self, frame)
        return self.separator.join(
            [
                fn(frame) if fn is not None else agg.join(nf(h)) if nf is not None else agg.join(pf(pdus))
                for fn, pf, nf in self._cols
            ]
        )

    def line(self, frame) -> str:
        found: dict[str, list[str]] = {}
        h = headers(frame) if self.net else None
        if self.net and h is None:  # not a plain frame: every field from its tree
            found = collect(frame.tree(self.all_protocols), self.tree_fields, self.show_secrets, frame)
        elif self.rest:
            pdus = frame.pdus
            if self.pdu_only and not pdus and not _session_end(frame):
                found = {}
            elif self.pdu_fast and pdus and not _session_end(frame) and all(map(_simple, pdus)):
                found = {name: PDU_FAST[name](pdus) for name in self.rest}
            else:
                found = collect(frame.tree(self.protocols), self.rest, self.show_secrets, frame)
        if h is not None:
            for name, nf in self.net.items():
                found[name] = nf(h)
        cells = []
        for name in self.names:
            fn = self.fast.get(name)
            if fn is not None:
                cells.append(self._pick([fn(frame)]))
            else:
                cells.append(self._pick(found.get(name, [])))
        return self.separator.join(cells)
