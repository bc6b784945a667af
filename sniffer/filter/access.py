"""How a compiled filter reads a field's values out of a Frame.

Rules: answer from the summary row and the framed PDUs when that is exact
(frame.number, frame.len, mqtt presence, mqtt.msgtype, ...), otherwise from the
frame's detail tree, built at most once per frame per evaluation and only for
the protocols the expression uses. Each getter returns the list of every
occurrence of the field in the frame, normalised into the filter's value domain.

`cx` is the per-evaluation cache: [tree nodes by abbrev | None, parse tuple | None, sources | None].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sniffer.fields import REGISTRY, FieldDef, Node
from sniffer.filter.literals import KIND_OF, normalizer

Getter = Callable[[Any, list], list]
NET_PROTOCOLS = frozenset({"frame", "eth", "vlan", "sll", "null", "ip", "ipv6", "tcp", "raw"})
PUBLISH, SUBSCRIBE, UNSUBSCRIBE = 3, 8, 10


class TreePlan:
    """The tree fields one filter needs; filled while compiling, read while matching."""

    def __init__(self) -> None:
        self.wanted: set[str] = set()
        self.protocols: set[str] = set()

    def want(self, abbrev: str) -> None:
        self.wanted.add(abbrev)
        proto = abbrev.split(".", 1)[0]
        self.protocols.add(proto)
        if proto in NET_PROTOCOLS:
            self.protocols.add("frame")  # link/IP/TCP layers are built together
        if proto == "tcp":
            self.protocols.add("mqtt")  # tcp.segment / tcp.reassembled.* sit beside the MQTT layer

    def nodes(self, frame: Any, cx: list) -> dict[str, list[Node]]:
        d = cx[0]
        if d is None:
            d = {}
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
            cx[0] = d
        return d


def node_bytes(frame: Any, cx: list, n: Node) -> bytes:
    """The bytes a node covers (a protocol's value in Wireshark)."""
    srcs = cx[2]
    if srcs is None:
        srcs = cx[2] = frame.sources()
    if n.source >= len(srcs):
        return b""
    data = srcs[n.source][1]
    return bytes(data[n.start : n.start + n.length])


def tree_getter(plan: TreePlan, fd: FieldDef, wants_value: bool = True) -> Getter:
    abbrev = fd.abbrev
    kind = KIND_OF[fd.ftype]
    plan.want(abbrev)
    if not wants_value:
        kind = "none"  # a presence test: occurrences only
    if kind == "bytes" and fd.ftype.name == "PROTOCOL":

        def get_proto(f: Any, cx: list) -> list:
            nodes = plan.nodes(f, cx).get(abbrev)
            return [node_bytes(f, cx, n) for n in nodes] if nodes else []

        return get_proto
    if kind == "none":

        def get_none(f: Any, cx: list) -> list:
            nodes = plan.nodes(f, cx).get(abbrev)
            return [True] * len(nodes) if nodes else []

        return get_none
    norm = normalizer(kind)

    def get(f: Any, cx: list) -> list:
        nodes = plan.nodes(f, cx).get(abbrev)
        return [norm(n.value) for n in nodes] if nodes else []

    return get


# frame.* fields answered from the summary row: abbrev -> Frame attribute
FRAME_ATTRS = {
    "frame.number": "number",
    "frame.len": "orig_len",
    "frame.time_relative": "rel_ts",
    "frame.time_delta": "delta",
    "frame.time_delta_displayed": None,  # depends on the display: from the tree
    "frame.time_epoch": "ts",
    "frame.time": "ts",
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


def _mqtt_msgtype(f: Any, cx: list) -> list:
    return [p.msgtype for p in f.pdus]


def _mqtt_bytes(f: Any, cx: list) -> list:
    return [bytes(p.data) for p in f.pdus]


def _mqtt_present(f: Any, cx: list) -> list:
    return [True] * len(f.pdus)


def _frame_bytes(f: Any, cx: list) -> list:
    return [bytes(f.data)]


def _mqtt_topic(tree_get: Getter) -> Getter:
    """mqtt.topic: PUBLISH topics straight from the framed PDUs, others from the tree."""

    def get(f: Any, cx: list) -> list:
        pdus = f.pdus
        if not pdus:
            return []
        out = []
        for p in pdus:
            t = p.msgtype
            if t == PUBLISH and p.error is None and p.topic is not None:
                out.append(p.topic)
            elif t in (SUBSCRIBE, UNSUBSCRIBE, PUBLISH):
                return tree_get(f, cx)  # topic filters (or a malformed PUBLISH): the dissector knows
        return out

    return get


def fast_getter(abbrev: str, plan: TreePlan, wants_value: bool) -> Getter | None:
    """A getter that avoids the tree for this field, or None.

    `wants_value` is False for a bare presence test (then a protocol need not
    produce its bytes).
    """
    if abbrev == "mqtt":
        return _mqtt_bytes if wants_value else _mqtt_present
    if abbrev == "frame":
        return _frame_bytes
    if abbrev == "mqtt.msgtype":
        return _mqtt_msgtype
    if abbrev == "mqtt.topic" and abbrev in REGISTRY:
        return _mqtt_topic(tree_getter(plan, REGISTRY[abbrev]))
    return None


def getter(abbrev: str, plan: TreePlan, wants_value: bool = True) -> Getter:
    """The occurrences getter for a registered field or protocol."""
    fast = fast_getter(abbrev, plan, wants_value)
    if fast is not None:
        return fast
    single = single_getter(abbrev)
    if single is not None:
        return lambda f, cx: [single(f)]
    return tree_getter(plan, REGISTRY[abbrev], wants_value)
