"""How a compiled filter reads a field's values out of a Frame.

Rules: answer from the summary row, the TCP segment record and the framed PDUs
when that is exact (frame.*, tcp ports/flags/stream/len, ip/ipv6 addresses,
mqtt presence, msgtype, topic, qos, dup, retain, msgid, len, hdrflags), otherwise
from the frame's detail tree, built at most once per frame and only for the
protocols the expression uses. Each getter returns the list of every occurrence
of the field in the frame, normalised into the filter's value domain.
tests/test_filter_fastpath.py checks every fast path against the tree.

The tree cache lives on the TreePlan and is keyed by the frame object: a compiled
filter is meant for one thread at a time (the UI gives each worker its own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sniffer.fields import REGISTRY, FieldDef, Node
from sniffer.filter.literals import KIND_OF, normalizer
from sniffer.payload import CREDENTIAL_PROTOCOLS
from sniffer.payload import layers_for as payload_layers
from sniffer.payload.fields import PAYLOAD_PROTOCOLS

Getter = Callable[[Any], list]
NET_PROTOCOLS = frozenset({"frame", "eth", "vlan", "sll", "null", "ip", "ipv6", "tcp", "raw", "arp"})
PUBLISH, PUBREL, SUBSCRIBE, UNSUBSCRIBE = 3, 6, 8, 10
PUBLISH_ONLY, CONNECT_ONLY = frozenset({PUBLISH}), frozenset({1})
V31 = 3


class TreePlan:
    """The tree fields one filter needs (filled while compiling) and the last frame's tree."""

    def __init__(self) -> None:
        self.wanted: set[str] = set()
        self.protocols: set[str] = set()
        self.mqtt_only = True  # every tree field is an mqtt.* field: no PDUs, no tree
        self.frame: Any = None
        self.cache: dict[str, list[Node]] = {}
        self.sources_frame: Any = None
        self.sources: list = []

    def want(self, abbrev: str) -> None:
        self.wanted.add(abbrev)
        proto = abbrev.split(".", 1)[0]
        self.protocols.add(proto)
        self.protocols |= payload_layers(abbrev)  # payload fields: the MQTT tree with payloads decoded
        if proto != "mqtt" and proto not in PAYLOAD_PROTOCOLS:
            self.mqtt_only = False
        if proto in NET_PROTOCOLS:
            self.protocols.add("frame")  # link/IP/TCP layers are built together
        if abbrev == "frame.protocols":
            self.protocols.add(abbrev)  # (its payload layers are worked out only when asked: sniffer.pipeline)
        if proto == "tcp":
            self.protocols.add("mqtt")  # tcp.segment / tcp.reassembled.* sit beside the MQTT layer

    def nodes(self, frame: Any) -> dict[str, list[Node]]:
        if frame is self.frame:
            return self.cache
        d: dict[str, list[Node]] = {}
        seg = getattr(frame, "seg", None)  # a connection's end carries MQTT session notes
        if frame.pdus or not self.mqtt_only or seg is not None and seg.session_notes:
            wanted = self.wanted
            stack = list(reversed(frame.tree(self.protocols)))
            while stack:
                n = stack.pop()
                fd = n.fdef
                if fd is not None and fd.abbrev in wanted:
                    lst = d.get(fd.abbrev)
                    if lst is None:
                        d[fd.abbrev] = [n]
                    else:
                        lst.append(n)
                if n.children:
                    stack.extend(reversed(n.children))
        self.frame, self.cache = frame, d
        return d

    def node_bytes(self, frame: Any, n: Node) -> bytes:
        """The bytes a node covers (a protocol's value in Wireshark)."""
        if frame is not self.sources_frame:
            self.sources_frame, self.sources = frame, frame.sources()
        srcs = self.sources
        if n.source >= len(srcs):
            return b""
        data = srcs[n.source][1]
        return bytes(data[n.start : n.start + n.length])


# Which MQTT PDUs can hold a field in their subtree (sniffer/mqtt/dissect.py decides where each
# field is made): a frame none of whose PDUs qualifies has no occurrence, so its tree is not built.
# Deliberately by packet type, not by the property's allowed types: the dissector shows a property
# wherever it occurs (with a warning), and the filter must see what the tree shows.
CONNECT, CONNACK, SUBACK, V5 = 1, 2, 9, 5
_PROPERTY_TYPES = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15})  # v5 packets with a property block
_CONNECT_FIELDS = (
    "proto_len protoname ver conflags conflag.uname conflag.passwd conflag.retain conflag.qos conflag.willflag "
    "conflag.cleansess conflag.reserved kalive clientid_len clientid willtopic_len willtopic willmsg willmsg_len "
    "username_len username passwd_len passwd will_properties"
)
PDU_TYPES: dict[str, frozenset[int]] = {f"mqtt.{n}": frozenset({CONNECT}) for n in _CONNECT_FIELDS.split()}
PDU_TYPES.update(
    {
        "mqtt.conack.flags": frozenset({CONNACK}),
        "mqtt.conack.flags.reserved": frozenset({CONNACK}),
        "mqtt.conack.flags.sp": frozenset({CONNACK}),
        "mqtt.conack.val": frozenset({CONNACK}),
        "mqtt.suback.qos": frozenset({SUBACK}),
        "mqtt.sub.qos": frozenset({SUBSCRIBE}),
        "mqtt.subscription_options": frozenset({SUBSCRIBE}),
        "mqtt.subscription_options_qos": frozenset({SUBSCRIBE}),
        "mqtt.subscription_options_nl": frozenset({SUBSCRIBE}),
        "mqtt.subscription_options_rap": frozenset({SUBSCRIBE}),
        "mqtt.subscription_options_retain": frozenset({SUBSCRIBE}),
        "mqtt.subscription_options_reserved": frozenset({SUBSCRIBE}),
        "mqtt.topic_len": frozenset({PUBLISH, SUBSCRIBE, UNSUBSCRIBE}),
        "mqtt.msg": frozenset({PUBLISH}),
    }
)
for _t, _n in ((2, "connack"), (4, "puback"), (5, "pubrec"), (6, "pubrel"), (7, "pubcomp"), (9, "suback"),
               (11, "unsuback"), (14, "disconnect"), (15, "auth")):  # fmt: skip
    PDU_TYPES[f"mqtt.{_n}.reason_code"] = frozenset({_t})
# Property fields: in CONNECT (its own protocol level decides) and in the MQTT 5 packets with a block.
_PROPERTY_BLOCK = frozenset({"mqtt.properties", "mqtt.property_len", "mqtt.property_id"})


def is_property_field(abbrev: str) -> bool:
    return abbrev.startswith(("mqtt.property.", "mqtt.prop_")) or abbrev in _PROPERTY_BLOCK


def pdu_admits(abbrev: str) -> Callable[[int, int], bool] | None:
    """(msgtype, version) -> may a PDU of that type hold this field? None: any PDU may."""
    types = PDU_TYPES.get(abbrev)
    if types is None and payload_layers(abbrev):  # a decoded payload: only a PUBLISH has one; credentials: CONNECT
        types = CONNECT_ONLY if abbrev.split(".", 1)[0] in CREDENTIAL_PROTOCOLS else PUBLISH_ONLY
    if types is not None:
        return lambda t, v: t in types
    if is_property_field(abbrev):
        return lambda t, v: t == CONNECT or (v == V5 and t in _PROPERTY_TYPES)
    return None


def _pruned(admits: Callable[[int, int], bool], get: Getter) -> Getter:
    """`get` only for frames with a PDU that may hold the field; [] without building a tree."""

    def pruned(f: Any) -> list:
        for p in f.pdus:
            if admits(p.msgtype, p.version):
                return get(f)
        return []

    return pruned


def property_id(abbrev: str) -> int | None:
    """The MQTT 5 property id whose own field this is (mqtt.property.content_type -> 0x03), or None."""
    if not abbrev.startswith("mqtt.property."):
        return None
    from sniffer.mqtt.fields import PROPERTY_FIELD

    for pid, fd in PROPERTY_FIELD.items():
        if fd.abbrev == abbrev:
            return pid
    return None


def _property(pid: int, norm: Callable[[Any], Any], get: Getter) -> Getter:
    """One property's values read from the PDUs' property blocks; the tree only for odd PDUs."""
    from sniffer.filter.props import property_values

    def prop(f: Any) -> list:
        out: list = []
        for p in f.pdus:
            if p.error is not None:
                return get(f)
            vals = property_values(p, pid)
            if vals is None:
                return get(f)
            out.extend(norm(v) for v in vals)
        return out

    return prop


def tree_getter(plan: TreePlan, fd: FieldDef, wants_value: bool = True) -> Getter:
    get = _tree_getter(plan, fd, wants_value)
    pid = property_id(fd.abbrev)
    if pid is not None:
        norm = normalizer(KIND_OF[fd.ftype]) if wants_value else (lambda v: True)
        return _property(pid, norm, get)
    admits = pdu_admits(fd.abbrev)
    return get if admits is None else _pruned(admits, get)


def _tree_getter(plan: TreePlan, fd: FieldDef, wants_value: bool = True) -> Getter:
    abbrev = fd.abbrev
    kind = KIND_OF[fd.ftype]
    plan.want(abbrev)
    if not wants_value:
        kind = "none"  # a presence test: occurrences only
    if kind == "bytes" and fd.ftype.name == "PROTOCOL":

        def get_proto(f: Any) -> list:
            nodes = plan.nodes(f).get(abbrev)
            return [plan.node_bytes(f, n) for n in nodes] if nodes else []

        return get_proto
    if kind == "none":

        def get_none(f: Any) -> list:
            nodes = plan.nodes(f).get(abbrev)
            return [True] * len(nodes) if nodes else []

        return get_none
    norm = normalizer(kind)

    def get(f: Any) -> list:
        nodes = plan.nodes(f).get(abbrev)
        return [norm(n.value) for n in nodes] if nodes else []

    return get


# frame.* fields answered from the summary row: abbrev -> Frame attribute
# (frame times stay with the tree: the summary row's float seconds are not exact to the
# nanosecond, and `frame.time_relative == 0.05` must see exactly what tshark sees)
FRAME_ATTRS = {
    "frame.number": "number",
    "frame.len": "orig_len",
}


def single_getter(abbrev: str) -> Callable[[Any], Any] | None:
    """A getter of the one value of a field every frame has exactly once, or None."""
    attr = FRAME_ATTRS.get(abbrev)
    if attr is not None and abbrev in REGISTRY:
        kind = KIND_OF[REGISTRY[abbrev].ftype]
        if kind in ("int", "float", "time"):
            if kind == "int":
                return lambda f: getattr(f, attr)
            return lambda f: float(getattr(f, attr))
    if abbrev == "frame.cap_len" and abbrev in REGISTRY:
        return lambda f: len(f.data)
    return None


def _mqtt_msgtype(f: Any) -> list:
    return [p.msgtype for p in f.pdus]


def _mqtt_bytes(f: Any) -> list:
    return [bytes(p.data) for p in f.pdus]


def _mqtt_present(f: Any) -> list:
    return [True] * len(f.pdus)


def _frame_bytes(f: Any) -> list:
    return [bytes(f.data)]


def _mqtt_topic(tree_get: Getter) -> Getter:
    """mqtt.topic: PUBLISH topics straight from the framed PDUs, topic filters from the PDU bytes."""

    from sniffer.filter.props import subscribe_topics

    def get(f: Any) -> list:
        pdus = f.pdus
        if not pdus:
            return []
        out = []
        for p in pdus:
            t = p.msgtype
            if t == PUBLISH and p.error is None and p.topic is not None:
                out.append(p.topic)
            elif t in (SUBSCRIBE, UNSUBSCRIBE) and p.error is None:
                filters = subscribe_topics(p)  # read from the bytes as the dissector walks them
                if filters is None:
                    return tree_get(f)
                out.extend(filters)
            elif t in (SUBSCRIBE, UNSUBSCRIBE, PUBLISH):
                return tree_get(f)  # a malformed one, or a PUBLISH without a topic: the dissector knows
        return out

    return get


def _pdu_field(extract: Callable[[Any], Any], tree_get: Getter) -> Getter:
    """A field read from each well-formed framed PDU; `extract` returns None where the PDU lacks it.

    A frame with a malformed PDU goes to the tree: the dissector decides what it shows there.
    """

    def get(f: Any) -> list:
        pdus = f.pdus
        if not pdus:
            return []
        out = []
        for p in pdus:
            if p.error is not None:
                return tree_get(f)
            v = extract(p)
            if v is not None:
                out.append(v)
        return out

    return get


def _qos_shown(p: Any) -> bool:
    # Wireshark shows the QoS/DUP bits on PUBLISH, and on MQTT 3.1's PUBREL/SUBSCRIBE/UNSUBSCRIBE
    t = p.msgtype
    return t == PUBLISH or (p.version == V31 and t in (PUBREL, SUBSCRIBE, UNSUBSCRIBE))


_PDU_EXTRACT: dict[str, Callable[[Any], Any]] = {
    "mqtt.qos": lambda p: (p.flags >> 1) & 3 if _qos_shown(p) else None,
    "mqtt.dupflag": lambda p: (p.flags >> 3) & 1 if _qos_shown(p) else None,
    "mqtt.retain": lambda p: p.flags & 1 if p.msgtype == PUBLISH else None,
    "mqtt.hdrflags": lambda p: (p.msgtype << 4) | p.flags,
    "mqtt.len": lambda p: p.remaining,
    "mqtt.msgid": lambda p: p.msgid if p.msgid >= 0 else None,
}

# TCP fields from the frame's segment record (Frame.seg), present on every IP+TCP frame.
TCP_FLAG_BITS = {
    "tcp.flags.fin": 0x001,
    "tcp.flags.syn": 0x002,
    "tcp.flags.reset": 0x004,
    "tcp.flags.push": 0x008,
    "tcp.flags.ack": 0x010,
    "tcp.flags.urg": 0x020,
    "tcp.flags.ece": 0x040,
    "tcp.flags.cwr": 0x080,
}
_SEG_EXTRACT: dict[str, Callable[[Any, Any], list]] = {
    "tcp": lambda f, s: [True],
    "tcp.srcport": lambda f, s: [s.sport],
    "tcp.dstport": lambda f, s: [s.dport],
    "tcp.port": lambda f, s: [s.sport, s.dport],
    "tcp.stream": lambda f, s: [f.stream],
    "tcp.len": lambda f, s: [s.length],
}
for _abbrev, _bit in TCP_FLAG_BITS.items():
    _SEG_EXTRACT[_abbrev] = lambda f, s, b=_bit: [1 if s.flags & b else 0]


def _seg_field(extract: Callable[[Any, Any], list], tree_get: Getter) -> Getter:
    def get(f: Any) -> list:
        s = f.seg
        if s is None:
            return tree_get(f)  # not a plain IP+TCP frame: the tree knows
        return extract(f, s)

    return get


def _ip(version: int, which: str) -> Callable[[Any], list]:
    """ip.src/dst/addr or ipv6.* from the frame's raw addresses (Frame.addrs: (ipver, src, dst))."""
    from_bytes = int.from_bytes

    def extract(f: Any, s: Any) -> list:
        ipver, src, dst = f.addrs
        if ipver != version:
            return []
        if which == "src":
            return [from_bytes(src, "big")]
        if which == "dst":
            return [from_bytes(dst, "big")]
        if which == "":
            return [True]
        return [from_bytes(src, "big"), from_bytes(dst, "big")]

    return extract


for _proto, _ver in (("ip", 4), ("ipv6", 6)):
    _SEG_EXTRACT[_proto] = _ip(_ver, "")
    for _which in ("src", "dst", "addr"):
        _SEG_EXTRACT[f"{_proto}.{_which}"] = _ip(_ver, _which)


def fast_getter(abbrev: str, plan: TreePlan, wants_value: bool) -> Getter | None:
    """A getter that avoids the tree for this field where it can, or None.

    `wants_value` is False for a bare presence test (then a protocol need not
    produce its bytes).
    """
    if abbrev == "mqtt":
        return _mqtt_bytes if wants_value else _mqtt_present
    if abbrev == "frame":
        return _frame_bytes
    if abbrev == "mqtt.msgtype":
        return _mqtt_msgtype
    fd = REGISTRY.get(abbrev)
    if fd is None:
        return None
    if abbrev == "mqtt.topic":
        return _mqtt_topic(tree_getter(plan, fd))
    if abbrev in _PDU_EXTRACT:
        norm = normalizer(KIND_OF[fd.ftype])
        ext = _PDU_EXTRACT[abbrev]
        return _pdu_field(lambda p: None if (v := ext(p)) is None else norm(v), tree_getter(plan, fd, wants_value))
    if abbrev in _SEG_EXTRACT and (fd.ftype.name != "PROTOCOL" or not wants_value):
        return _seg_field(_SEG_EXTRACT[abbrev], tree_getter(plan, fd, wants_value))
    return None


def getter(abbrev: str, plan: TreePlan, wants_value: bool = True) -> Getter:
    """The occurrences getter for a registered field or protocol."""
    fast = fast_getter(abbrev, plan, wants_value)
    if fast is not None:
        return fast
    single = single_getter(abbrev)
    if single is not None:
        return lambda f: [single(f)]
    return tree_getter(plan, REGISTRY[abbrev], wants_value)
