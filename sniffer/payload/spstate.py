"""Sparkplug B state across messages, sans-IO, fed by the session tracker: births and deaths, `seq`
gaps (0-255, wrapping), `bdSeq` of an NDEATH against its NBIRTH, metric aliases resolved from the birth.

The tracker calls `publish()` for each PUBLISH on an spBv1.0/ topic that a client sent (what the edge
node sent, once: the broker's deliveries to subscribers repeat it), and for every NDEATH (the broker
publishes an edge node's will). It returns (key, message) notes, which the tracker attaches like its
own (mqtt.analysis.sparkplug_*). State is bounded: MAX_NODES edge nodes, MAX_ALIASES aliases each.
"""

from __future__ import annotations

from typing import Final

from sniffer.payload.context import Ctx, Malformed, TooMany
from sniffer.payload.sparkplug import decode, topic_parts

MAX_NODES: Final = 10_000
MAX_ALIASES: Final = 10_000
_DATA: Final = frozenset({"NDATA", "DDATA", "DBIRTH", "DDEATH"})  # carry the edge node's seq after its NBIRTH


class _Node:
    """One edge node (group/edge) as its messages told it."""

    __slots__ = ("seq", "bdseq", "birth_frame", "aliases")

    def __init__(self) -> None:
        self.seq = -1  # last seq seen, -1 none yet
        self.bdseq = -1  # bdSeq of the NBIRTH, -1 none
        self.birth_frame = 0
        # device ("" for the node itself) -> alias -> (name, frame of the birth)
        self.aliases: dict[str, dict[int, tuple[str, int]]] = {}


def _read(data: bytes, topic: str) -> tuple[int, list[tuple[str | None, int | None, int | None]]] | None:
    """(seq or -1, [(name, alias, integer value)] of the metrics), or None when the payload is not Sparkplug B."""
    ctx = Ctx(0, 0)
    try:
        root = decode(ctx, data, topic)
    except (Malformed, TooMany):
        return None
    seq = -1
    metrics: list[tuple[str | None, int | None, int | None]] = []
    for c in root.children:
        if c.fdef is None:
            continue
        name = c.fdef.abbrev
        if name == "sparkplug.seq":
            seq = int(c.value)
        elif name == "sparkplug.metric":
            mname: str | None = None
            alias: int | None = None
            value: int | None = None
            for f in c.children:
                short = f.fdef.abbrev if f.fdef is not None else ""
                if short == "sparkplug.metric.name":
                    mname = str(f.value)
                elif short == "sparkplug.metric.alias":
                    alias = int(f.value)
                elif short in ("sparkplug.metric.long_value", "sparkplug.metric.int_value"):
                    value = int(f.value)
            metrics.append((mname, alias, value))
    return seq, metrics


class SparkplugState:
    """Edge nodes by (group, edge node id)."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[str, str], _Node] = {}

    def publish(self, frame: int, topic: str, data: bytes, from_client: bool) -> list[tuple[str, str]]:
        parts = topic_parts(topic)
        if parts is None or len(parts) < 4:
            return []
        group, mtype, edge = parts[1], parts[2], parts[3]
        device = parts[4] if len(parts) > 4 else ""
        if not from_client and mtype != "NDEATH":
            return []
        read = _read(data, topic)
        if read is None:
            return []  # the payload's own decoder notes say why, in the tree
        seq, metrics = read
        key = (group, edge)
        node = self.nodes.get(key)
        if node is None:
            if len(self.nodes) >= MAX_NODES:
                return []
            node = self.nodes[key] = _Node()
        who = f"{group}/{edge}" + (f"/{device}" if device else "")
        notes: list[tuple[str, str]] = []
        if mtype == "NBIRTH":
            bd = next((v for n, _a, v in metrics if n == "bdSeq" and v is not None), -1)
            node.seq, node.bdseq, node.birth_frame = seq, bd, frame
            node.aliases = {}
            self._learn(node, "", metrics, frame)
            notes.append(("sparkplug_birth", f"Edge node {who} born (bdSeq {bd if bd >= 0 else '?'}, seq {seq}, "
                          f"{len(metrics)} metrics)"))  # fmt: skip
            if seq not in (0, -1):
                notes.append(("sparkplug_seq_gap", f"NBIRTH of {who} has seq {seq}: it must be 0"))
            return notes
        if mtype == "NDEATH":
            bd = next((v for n, _a, v in metrics if n == "bdSeq" and v is not None), -1)
            notes.append(("sparkplug_death", f"Edge node {who} dead (bdSeq {bd if bd >= 0 else '?'})"))
            if node.birth_frame and bd >= 0 and node.bdseq >= 0 and bd != node.bdseq:
                notes.append(("sparkplug_bdseq_mismatch", f"NDEATH bdSeq {bd} does not match bdSeq {node.bdseq} of "
                              f"the NBIRTH in frame {node.birth_frame}: a death of another session"))  # fmt: skip
            return notes
        if mtype not in _DATA:
            return notes  # NCMD, DCMD: the host's; no seq
        if not node.birth_frame:
            notes.append(("sparkplug_no_birth", f"{mtype} from {who} before any NBIRTH of its edge node in this "
                          "capture (started mid-session?)"))  # fmt: skip
        elif seq >= 0 and node.seq >= 0:
            want = (node.seq + 1) % 256
            if seq != want:
                lost = (seq - want) % 256
                notes.append(("sparkplug_seq_gap", f"seq {seq} from {who} after {node.seq}: {lost} message"
                              f"{'s' if lost != 1 else ''} of the edge node missing (or out of order)"))  # fmt: skip
        if seq >= 0:
            node.seq = seq
        if mtype == "DBIRTH":
            node.aliases[device] = {}
            self._learn(node, device, metrics, frame)
            return notes
        if not node.birth_frame:
            return notes  # no birth seen: its aliases are unknown, not wrong
        known = node.aliases.get(device, {})
        resolved = []
        for name, alias, _v in metrics:
            if name is None and alias is not None:
                hit = known.get(alias) or (node.aliases.get("", {}).get(alias) if device else None)
                resolved.append(f"{alias} = {hit[0]!r} (birth in frame {hit[1]})" if hit else f"{alias} = unknown")
        if resolved:
            notes.append(("sparkplug_alias", "Metric aliases: " + ", ".join(resolved)))
        return notes

    @staticmethod
    def _learn(node: _Node, device: str, metrics: list[tuple[str | None, int | None, int | None]], frame: int) -> None:
        table = node.aliases.setdefault(device, {})
        for name, alias, _v in metrics:
            if name is not None and alias is not None and len(table) < MAX_ALIASES:
                table[alias] = (name, frame)
