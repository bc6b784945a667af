"""`-z mqtt,topics`: the topic tree as seen on the wire, one node per topic level.

Every PUBLISH (both directions: a client's publication and the broker's deliveries) counts on
its topic's node and, summed, on every level above it: PDUs, payload bytes, rate over the
capture, retained. A topic that was itself published also names its publishers (client ids
that sent it to the broker) and the client ids whose SUBSCRIBE filters match it (MQTT wildcard
rules, sniffer.filter.topic). Memory: one node per distinct topic level.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Final, NamedTuple

from sniffer.filter.topic import check_filter, compile_topic_filter
from sniffer.mqtt import constants as C
from sniffer.mqtt.decoder import PDU
from sniffer.pipeline import Frame
from sniffer.session.facts import filters_of
from sniffer.stats.layout import block, table, text

NAMES_MAX: Final = 6  # client ids listed per topic, then "+N"
PREVIEW: Final = 64  # payload bytes kept per topic for the UI's "last payload"


class _Node:
    __slots__ = ("children", "count", "bytes", "retained", "own", "publishers", "last")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.count = 0  # PUBLISH PDUs of this topic and every topic below it
        self.bytes = 0
        self.retained = 0
        self.own = 0  # PUBLISH PDUs of exactly this topic
        self.publishers: set[str] = set()
        self.last = b""  # the head of the last payload published on exactly this topic


class TopicInfo(NamedTuple):
    """One node of the topic tree as `TopicsStat.nodes()` hands it out: a copy, safe to keep."""

    topic: str  # the whole topic up to this level
    level: str  # this level's name
    depth: int
    msgs: int  # PUBLISH PDUs of this topic and every topic below it (not "count": a tuple method)
    size: int  # their payload bytes
    retained: int
    own: int  # PUBLISH PDUs of exactly this topic
    publishers: tuple[str, ...]  # sorted; only for a topic that was itself published
    subscribers: tuple[str, ...]  # client ids whose filters match it (same condition)
    last: bytes  # the head of its last payload (PREVIEW bytes at most)
    leaf: bool  # no level below it


def payload_at(p: PDU) -> int:
    """Where the application message of a PUBLISH starts (len(p.data) when it cannot be found)."""
    pos = p.payload_at
    return pos if pos >= 0 else len(p.data)


def payload_len(p: PDU) -> int:
    """Bytes of the application message of a PUBLISH (what is left after its variable header)."""
    return len(p.data) - payload_at(p)


def _names(names: set[str]) -> str:
    shown = sorted(names)
    more = f" +{len(shown) - NAMES_MAX}" if len(shown) > NAMES_MAX else ""
    return ", ".join(text(n) for n in shown[:NAMES_MAX]) + more


class TopicsStat:
    def __init__(self) -> None:
        self.root = _Node()
        self.filters: dict[str, set[str]] = {}  # subscriber client id -> its topic filters
        # topic filter -> the client ids that subscribed with it: a topic is matched against each
        # distinct filter once (many clients share a few filters), not once per client
        self.by_filter: dict[str, set[str]] = {}
        self.compiled: dict[str, Callable[[str], bool] | None] = {}
        self.published = 0  # distinct topics published  # topic filter -> its matcher, None if invalid

    def frame(self, f: Frame) -> None:
        for p in f.pdus:
            t = p.msgtype
            if t == C.PUBLISH and p.topic is not None:
                start = payload_at(p)
                size = len(p.data) - start
                retain = p.flags & 1
                node = self.root
                for level in p.topic.split("/"):
                    node.count += 1
                    node.bytes += size
                    node.retained += retain
                    nxt = node.children.get(level)
                    if nxt is None:
                        nxt = node.children[level] = _Node()
                    node = nxt
                node.count += 1
                node.bytes += size
                node.retained += retain
                if not node.own:
                    self.published += 1
                node.own += 1
                node.last = p.data[start : start + PREVIEW]
                a = p.ann
                if a is not None and a.direction == 0 and a.client is not None:
                    node.publishers.add(a.client)
            elif t == C.SUBSCRIBE and p.error is None:
                a = p.ann
                if a is not None and a.direction == 0 and a.client is not None:
                    for flt, _q in filters_of(p):
                        self.filters.setdefault(a.client, set()).add(flt)
                        self.by_filter.setdefault(flt, set()).add(a.client)

    def nodes(self, expanded: Container[str] | None = None) -> list[TopicInfo]:
        """Every node of the tree, depth-first in name order (what render() prints); a topic that was
        itself published names its publishers and matching subscribers. With `expanded` (the UI's
        Topics view: the topics whose node is open), only the top level and the children of those:
        a refresh costs what is on screen, not the 100,000 topics below closed nodes."""
        compiled = self.compiled
        for flt in self.by_filter:
            if flt not in compiled:
                compiled[flt] = compile_topic_filter(flt) if check_filter(flt) is None else None
        matchers = [(m, self.by_filter[flt]) for flt, m in compiled.items() if m is not None]
        out: list[TopicInfo] = []
        # depth-first with a stack: a topic from the wire may have thousands of levels
        stack = [(self.root.children[n], n, n, 0) for n in sorted(self.root.children, reverse=True)]
        while stack:
            node, topic, level, depth = stack.pop()
            pubs: tuple[str, ...] = ()
            subs: tuple[str, ...] = ()
            if node.own:
                pubs = tuple(sorted(node.publishers))
                subs = tuple(sorted({c for m, clients in matchers if m(topic) for c in clients}))
            out.append(TopicInfo(topic, level, depth, node.count, node.bytes, node.retained, node.own, pubs, subs,
                                 node.last, not node.children))  # fmt: skip
            if expanded is None or topic in expanded:
                for name in sorted(node.children, reverse=True):
                    stack.append((node.children[name], f"{topic}/{name}", name, depth + 1))
        return out

    def totals(self) -> tuple[int, int]:
        """(PUBLISH messages, topics published): the whole tree's, for a view that lists part of it."""
        return self.root.count, self.published

    def render(self, duration: float) -> str:
        rows: list[list[str]] = []
        for n in self.nodes():
            pubs = _names(set(n.publishers)) if n.own else ""
            subs = _names(set(n.subscribers)) if n.own else ""
            rate = f"{n.msgs / duration:.4f}" if duration > 0 else "-"
            rows.append(["  " * n.depth + text(n.level), str(n.msgs), str(n.size), rate, str(n.retained),
                         pubs, subs])  # fmt: skip
        heads = ["Topic", "Count", "Bytes", "Rate (/s)", "Retained", "Publishers", "Subscribers"]
        lines = table(heads, rows, "lrrrrll")
        legend = "Count, Bytes (payload), Rate, Retained: PUBLISH PDUs both ways, this level and below"
        return block("MQTT Topics", [legend, "", *lines])
