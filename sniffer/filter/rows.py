"""How a compiled filter reads a field's values out of a stored row (sniffer.store.PacketStore).

The same compiler (sniffer.filter.compiler) builds predicates over row indices instead of
Frames: every field sniffer.filter.access answers without a tree (frame.number/len/cap_len,
tcp ports/flags/stream/len, ip/ipv6 addresses, mqtt presence, msgtype, qos, dupflag, retain,
hdrflags, len, msgid, PUBLISH topics) is read from the filter's own index of the rows
(sniffer.filter.index, `store.index`) and the columns the store makes public (`store.column()`,
`store.addresses()`); anything else,
and any row those columns cannot describe exactly (a malformed PDU, a frame that is not plain
IP+TCP, a SUBSCRIBE's topic filters), goes to the Frame rebuilt from the spill file with the
Frame getter itself. Fields that only occur in some MQTT packet types are pruned from the MQ
word first: a row without such a PDU is answered [] without a rebuild.
tests/test_filter_rows.py checks every row getter and whole filters against the Frame's answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sniffer.fields import REGISTRY
from sniffer.filter import access
from sniffer.filter.index import MQ_COMPLEX as _COMPLEX
from sniffer.filter.index import MQ_HAS_MSGID as _HAS_MSGID
from sniffer.filter.index import MQ_MANY as _MANY
from sniffer.filter.index import MQ_NPDU as _NPDU
from sniffer.filter.index import MQ_ONE as _ONE
from sniffer.filter.index import MQ_SEG as _SEG
from sniffer.filter.index import PduView
from sniffer.filter.literals import KIND_OF, normalizer
from sniffer.filter.props import varint

Getter = Callable[[int], list]
PUBLISH, PUBREL, SUBSCRIBE, UNSUBSCRIBE, V31 = 3, 6, 8, 10, 3


def _qos_shown(w: int) -> bool:
    t = w & 15
    return t == PUBLISH or ((w >> 8) & 7 == V31 and t in (PUBREL, SUBSCRIBE, UNSUBSCRIBE))


# per PDU (word, remaining, topic id) -> the field's value or None where the PDU lacks it
_PDU_EXTRACT: dict[str, Callable[[int, int, int], Any]] = {
    "mqtt.msgtype": lambda w, n, t: w & 15,
    "mqtt.qos": lambda w, n, t: (w >> 5) & 3 if _qos_shown(w) else None,
    "mqtt.dupflag": lambda w, n, t: (w >> 7) & 1 if _qos_shown(w) else None,
    "mqtt.retain": lambda w, n, t: (w >> 4) & 1 if w & 15 == PUBLISH else None,
    "mqtt.hdrflags": lambda w, n, t: (w & 15) << 4 | (w >> 4) & 15,
    "mqtt.len": lambda w, n, t: n,
    "mqtt.msgid": lambda w, n, t: w >> 16 if w & _HAS_MSGID else None,
}
_TCP_FLAG_BITS = access.TCP_FLAG_BITS


class RowAccess:
    """Getters over row indices of one PacketStore (the arrays are read live: rows keep arriving)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.index = store.index  # the filter's columns (sniffer.filter.index)
        self.frame = store.frame_reader()  # i -> Frame, the last one kept

    def pdu_view(self, i: int) -> PduView | None:
        """Row i's single well-formed PDU when it lies whole in the frame, read with one pread and no
        unpickling (type, flags and version from the MQ word), else None."""
        w = self.index.mq[i]
        if w & (_NPDU | _COMPLEX) != _ONE:
            return None
        d = self.store.single_pdu_bytes(i)
        if d is None:
            return None
        n, q = varint(d, 1, len(d))
        if n < 0 or q + n > len(d):
            return None
        return PduView(w & 15, (w >> 4) & 15, (w >> 8) & 7, d[: q + n], q)

    def _slow(self, abbrev: str, plan: access.TreePlan, wants_value: bool) -> Getter:
        fg = access.getter(abbrev, plan, wants_value)
        fr = self.frame
        return lambda i: fg(fr(i))

    def single_getter(self, abbrev: str) -> Callable[[int], Any] | None:
        if access.single_getter(abbrev) is None:
            return None
        st = self.store
        if abbrev == "frame.number":
            first = st.number(0)  # (a bounded UI's later stores number on: --keep-frames)
            return lambda i: i + first
        if abbrev == "frame.len":
            col = st.column("orig_len")
            return lambda i: col[i]
        if abbrev == "frame.cap_len":
            col = st.column("cap_len")
            return lambda i: col[i]
        return None

    def getter(self, abbrev: str, plan: access.TreePlan, wants_value: bool = True) -> Getter:
        slow = self._slow(abbrev, plan, wants_value)
        fast = self._fast(abbrev, wants_value, slow)
        if fast is not None:
            return fast
        single = self.single_getter(abbrev)
        if single is not None:
            return lambda i: [single(i)]
        mq = self.index.mq
        admits = access.pdu_admits(abbrev)
        need = _property_bits(abbrev)
        if need:
            props = self.index.props
            pid = _property_id(abbrev)
            if pid is not None:
                return self._property(pid, need, normalizer(KIND_OF[REGISTRY[abbrev].ftype]), slow)
            inner = self._pruned(admits, slow) if admits is not None else slow
            return lambda i: inner(i) if props[i] & need else []
        if admits is not None:
            return self._pruned(admits, slow)
        if abbrev.startswith("mqtt.") and abbrev in REGISTRY:
            return lambda i: slow(i) if mq[i] & _NPDU else []  # MQTT fields live in PDU subtrees only
        return slow

    def _property(self, pid: int, need: int, norm: Callable[[Any], Any], slow: Getter) -> Getter:
        """One property's values: [] unless the row's property bits have it; else read from the
        PDUs' property blocks of the rebuilt Frame (no tree), the tree only for odd blocks."""
        from sniffer.filter.props import PROP_UNKNOWN, property_values

        props, mq, frame, pdu_view = self.index.props, self.index.mq, self.frame, self.pdu_view

        def get(i: int) -> list:
            bits = props[i]
            if not bits & need:
                return []
            if bits & PROP_UNKNOWN or mq[i] & _COMPLEX:
                return slow(i)
            p = pdu_view(i)  # the one PDU straight from the spill, when it lies whole in the frame
            if p is not None:
                vals = property_values(p, pid)
                if vals is not None:
                    return [norm(v) for v in vals]
            out: list = []
            for p in frame(i).pdus:
                vals = property_values(p, pid)
                if vals is None:
                    return slow(i)
                out.extend(norm(v) for v in vals)
            return out

        return get

    def _pruned(self, admits: Callable[[int, int], bool], slow: Getter) -> Getter:
        """slow(i) only for rows with a PDU that may hold the field (by type and version)."""
        mq, more = self.index.mq, self.index.more

        def pruned(i: int) -> list:
            w = mq[i]
            n = w & _NPDU
            if not n:
                return []
            if w & _COMPLEX or admits(w & 15, (w >> 8) & 7):
                return slow(i)
            if n == _MANY:
                rest = more[i]
                for k in range(0, len(rest), 3):
                    if admits(rest[k] & 15, (rest[k] >> 8) & 7):
                        return slow(i)
            return []

        return pruned

    def _fast(self, abbrev: str, wants_value: bool, slow: Getter) -> Getter | None:
        ix = self.index
        mq = ix.mq
        if abbrev == "mqtt":
            if wants_value:
                return lambda i: slow(i) if mq[i] & _NPDU else []

            more = ix.more

            def present(i: int) -> list:
                w = mq[i]
                n = w & _NPDU
                if n == _ONE:
                    return [True]
                if not n:
                    return []
                return slow(i) if w & _COMPLEX else [True] * (1 + len(more[i]) // 3)

            return present
        fd = REGISTRY.get(abbrev)
        if fd is None:
            return None
        if abbrev == "mqtt.topic":
            return self._topic(slow)
        ext = _PDU_EXTRACT.get(abbrev)
        if ext is not None:
            norm = normalizer(KIND_OF[fd.ftype])
            return self._pdu_field(ext, norm, slow)
        seg = self._seg_extract(abbrev)
        if seg is not None and (fd.ftype.name != "PROTOCOL" or not wants_value):

            def get_seg(i: int) -> list:
                return seg(i) if mq[i] & _SEG else slow(i)

            return get_seg
        return None

    def _pdu_field(self, ext: Callable[[int, int, int], Any], norm: Callable[[Any], Any], slow: Getter) -> Getter:
        ix = self.index
        mq, mlen, topic, more = ix.mq, ix.mlen, ix.topic, ix.more

        def get(i: int) -> list:
            w = mq[i]
            n = w & _NPDU
            if not n:
                return []
            if w & _COMPLEX:
                return slow(i)
            v = ext(w, mlen[i], topic[i])
            out = [] if v is None else [norm(v)]
            if n == _MANY:
                rest = more[i]
                for k in range(0, len(rest), 3):
                    v = ext(rest[k], rest[k + 1], rest[k + 2])
                    if v is not None:
                        out.append(norm(v))
            return out

        return get

    def _topic(self, slow: Getter) -> Getter:
        ix = self.index
        mq, topic, more, topics, tlist = ix.mq, ix.topic, ix.more, ix.topics, ix.tlist

        def listed(i: int) -> list:
            tl = tlist.get(i)  # the frame's topics (filters too), taken from its tree when stored
            return slow(i) if tl is None else [topics[t] for t in tl]

        def one(w: int, tid: int) -> str | None | bool:
            t = w & 15
            if t == PUBLISH and tid:
                return topics[tid]
            if t in (SUBSCRIBE, UNSUBSCRIBE, PUBLISH):
                return False  # topic filters, or a PUBLISH without a known topic: the tree decides
            return None

        def get(i: int) -> list:
            w = mq[i]
            n = w & _NPDU
            if not n:
                return []
            if w & _COMPLEX:
                return slow(i)
            v = one(w, topic[i])
            if v is False:
                return listed(i)
            out = [] if v is None else [v]
            if n == _MANY:
                rest = more[i]
                for k in range(0, len(rest), 3):
                    v = one(rest[k], rest[k + 2])
                    if v is False:
                        return listed(i)
                    if v is not None:
                        out.append(v)
            return out

        return get

    def _seg_extract(self, abbrev: str) -> Callable[[int], list] | None:
        ports, tcpw, stream = self.index.ports, self.index.tcpw, self.store.column("stream")
        if abbrev == "tcp":
            return lambda i: [True]
        if abbrev == "tcp.srcport":
            return lambda i: [ports[i] >> 16]
        if abbrev == "tcp.dstport":
            return lambda i: [ports[i] & 0xFFFF]
        if abbrev == "tcp.port":
            return lambda i: [(p := ports[i]) >> 16, p & 0xFFFF]
        if abbrev == "tcp.stream":
            return lambda i: [stream[i]]
        if abbrev == "tcp.len":
            return lambda i: [tcpw[i] >> 12]
        bit = _TCP_FLAG_BITS.get(abbrev)
        if bit is not None:
            return lambda i: [1 if tcpw[i] & bit else 0]
        proto, _, which = abbrev.partition(".")
        if proto in ("ip", "ipv6") and which in ("", "src", "dst", "addr"):
            return self._ip(4 if proto == "ip" else 6, which)
        return None

    def _ip(self, version: int, which: str) -> Callable[[int], list]:
        st = self.store
        src, dst, addr_of = st.column("src"), st.column("dst"), st.addresses()

        def extract(i: int) -> list:
            a = addr_of[src[i]]
            if a[0] != version:
                return []
            if which == "src":
                return [a[1]]
            if which == "dst":
                return [addr_of[dst[i]][1]]
            if which == "":
                return [True]
            return [a[1], addr_of[dst[i]][1]]

        return extract

    def generated(self, lhs: Any, test: str, quant: str, const: Any) -> Callable[[int], bool] | None:
        """Row versions of the compiler's generated shapes: a summary column or mqtt.msgtype vs a constant."""
        op = _PYOP.get(test)
        if op is None or lhs.kind not in ("int", "float", "time"):
            return None
        st = self.store
        ns: dict[str, Any] = {"c": const, "first": st.number(0)}
        if lhs.single is not None and lhs.label in ("frame.len", "frame.number", "frame.cap_len"):
            if lhs.label == "frame.number":
                return eval(f"lambda i: i + first {op} c", ns)  # noqa: S307  (operator from a fixed table)
            ns["col"] = st.column("orig_len" if lhs.label == "frame.len" else "cap_len")
            return eval(f"lambda i: col[i] {op} c", ns)  # noqa: S307
        if lhs.label != "mqtt.msgtype":
            return None
        ns.update(mq=self.index.mq, get=lhs.get, ONE=_ONE, MASK=_ONE | _MANY | _COMPLEX)
        tail = "any(v OP c for v in vals)" if quant == "any" else "bool(vals) and all(v OP c for v in vals)"
        src = (
            "def pred(i):\n    w = mq[i]\n    if w & MASK == ONE:\n        return (w & 15) OP c\n"
            "    if not w & MASK:\n        return False\n    vals = get(i)\n    return " + tail + "\n"
        ).replace("OP", op)
        exec(src, ns)  # noqa: S102  (source built from fixed tables)
        return ns["pred"]


_PYOP = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _property_id(abbrev: str) -> int | None:
    return access.property_id(abbrev)


def _property_bits(abbrev: str) -> int:
    """Bits of the store's property column a row needs for this field to occur (0: not a property field).

    One property's field needs its id; the generic ones (id, value, key...) any property at all.
    """
    if not access.is_property_field(abbrev) or abbrev in ("mqtt.properties", "mqtt.property_len"):
        return 0
    from sniffer.filter.props import PROP_UNKNOWN, prop_bits
    from sniffer.mqtt.fields import PROPERTY_FIELD

    bits = prop_bits()
    own = [bits[pid] for pid, fd in PROPERTY_FIELD.items() if fd.abbrev == abbrev]
    if own:
        return own[0] | PROP_UNKNOWN
    return PROP_UNKNOWN | sum(bits.values())
