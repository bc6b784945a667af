"""`-z mqtt,topics`: the topic tree as seen on the wire, one node per topic level.

Every PUBLISH (both directions: a client's publication and the broker's deliveries) counts on
its topic's node and, summed, on every level above it: PDUs, payload bytes, rate over the
capture, retained. A topic that was itself published also names its publishers (client ids
that sent it to the broker) and the client ids whose SUBSCRIBE filters match it (MQTT wildcard
rules, sniffer.filter.topic). Memory: one node per distinct topic level.
"""

from __future__ import annotations

from sniffer.filter.topic import check_filter, compile_topic_filter
from sniffer.mqtt import constants as C
from sniffer.mqtt.decoder import PDU
from sniffer.mqtt.skim import Bad, properties
from sniffer.pipeline import Frame
from sniffer.session.facts import filters_of
from sniffer.stats.layout import block, table, text

NAMES_MAX = 6  # client ids listed per topic, then "+N"


class _Node:
    __slots__ = ("children", "count", "bytes", "retained", "own", "publishers")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.count = 0  # PUBLISH PDUs of this topic and every topic below it
        self.bytes = 0
        self.retained = 0
        self.own = 0  # PUBLISH PDUs of exactly this topic
        self.publishers: set[str] = set()


def payload_len(p: PDU) -> int:
    """Bytes of the application message of a PUBLISH (what is left after its variable header)."""
    d, pos, end = p.data, p.hdr_len, len(p.data)
    try:
        pos += 2 + (d[pos] << 8 | d[pos + 1])
        if p.flags & 6:
            pos += 2  # packet identifier
        if p.version == C.V5:
            pos = properties(d, pos, end)[0]
    except (Bad, IndexError):
        return 0
    return max(end - pos, 0)


def _names(names: set[str]) -> str:
    shown = sorted(names)
    more = f" +{len(shown) - NAMES_MAX}" if len(shown) > NAMES_MAX else ""
    return ", ".join(text(n) for n in shown[:NAMES_MAX]) + more


class TopicsStat:
    def __init__(self) -> None:
        self.root = _Node()
        self.filters: dict[str, set[str]] = {}  # subscriber client id -> its topic filters

    def frame(self, f: Frame) -> None:
        for p in f.pdus:
            t = p.msgtype
            if t == C.PUBLISH and p.topic is not None:
                size = payload_len(p)
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
                node.own += 1
                a = p.ann
                if a is not None and a.direction == 0 and a.client is not None:
                    node.publishers.add(a.client)
            elif t == C.SUBSCRIBE and p.error is None:
                a = p.ann
                if a is not None and a.direction == 0 and a.client is not None:
                    self.filters.setdefault(a.client, set()).update(flt for flt, _q in filters_of(p))

    def render(self, duration: float) -> str:
        matchers = [
            (client, [compile_topic_filter(flt) for flt in flts if check_filter(flt) is None])
            for client, flts in self.filters.items()
        ]
        rows: list[list[str]] = []

        # depth-first with a stack: a topic from the wire may have thousands of levels
        stack = [(self.root.children[n], n, n, 0) for n in sorted(self.root.children, reverse=True)]
        while stack:
            node, topic, level, depth = stack.pop()
            pubs = subs = ""
            if node.own:
                pubs = _names(node.publishers)
                subs = _names({c for c, ms in matchers if any(m(topic) for m in ms)})
            rate = f"{node.count / duration:.4f}" if duration > 0 else "-"
            rows.append(["  " * depth + text(level), str(node.count), str(node.bytes), rate, str(node.retained),
                         pubs, subs])  # fmt: skip
            for name in sorted(node.children, reverse=True):
                stack.append((node.children[name], f"{topic}/{name}", name, depth + 1))
        heads = ["Topic", "Count", "Bytes", "Rate (/s)", "Retained", "Publishers", "Subscribers"]
        lines = table(heads, rows, "lrrrrll")
        legend = "Count, Bytes (payload), Rate, Retained: PUBLISH PDUs both ways, this level and below"
        return block("MQTT Topics", [legend, "", *lines])
