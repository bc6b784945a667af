"""`-z mqtt,clients`: per client id its connections (address, version, keep-alive, how each
ended), PDUs and bytes each way, messages left unacknowledged and the time to acknowledge.

One `_Conn` per TCP stream that carried MQTT, kept to the end of the capture (a few hundred
bytes each); the acknowledgement times are kept as an array of doubles for the median.
"""

from __future__ import annotations

from array import array
from typing import Final, NamedTuple, cast

from sniffer.mqtt import constants as C
from sniffer.pipeline import Frame
from sniffer.session.facts import connect_facts
from sniffer.stats.layout import block, median, secs, table, text

VERSIONS: Final = {3: "3.1", 4: "3.1.1", 5: "5.0"}
FIN, RST = 0x01, 0x04


class _Conn:
    """One MQTT connection as the statistics see it."""

    __slots__ = ("client", "addr", "version", "keepalive", "connects", "pdus", "bytes", "inflight", "acks",
                 "disconnect", "refused", "ended", "first", "last", "last_ts")  # fmt: skip

    def __init__(self, addr: str, first: int) -> None:
        self.client: str | None = None
        self.addr = addr
        self.version = 0
        self.keepalive = -1
        self.connects = 0
        self.pdus = [0, 0]  # client -> broker, broker -> client
        self.bytes = [0, 0]
        # QoS 1/2 PUBLISHes not yet acknowledged (PUBACK / PUBREC), by packet id, per sending direction
        self.inflight: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.acks = array("d")  # mqtt.time of every PUBACK and PUBREC
        self.disconnect = ""  # who sent a DISCONNECT ("client" or "broker")
        self.refused = False
        self.ended = ""
        self.first = first
        self.last = first
        self.last_ts = 0.0


class ConnInfo(NamedTuple):
    """One connection as `ClientsStat.connections()` hands it out: a copy, safe to keep."""

    stream: int  # tcp.stream
    client: str | None  # None: no CONNECT seen
    addr: str  # the client's address:port
    version: int  # 3, 4, 5 or 0 (unknown)
    keepalive: int  # seconds, -1 unknown
    connects: int
    pdus: tuple[int, int]  # client -> broker, broker -> client
    bytes: tuple[int, int]
    unacked: int  # QoS 1/2 PUBLISHes (both ways) not acknowledged so far
    ended: str  # how it ended, "" while open
    first: int  # frame numbers
    last: int
    last_ts: float  # time of the last frame (epoch seconds)

    @property
    def version_text(self) -> str:
        return VERSIONS.get(self.version, "?")


def _client_addr(f: Frame) -> str:
    """address:port of the client end ([v6]:port), from who sent this frame."""
    seg = f.seg
    assert seg is not None
    addr, port = (f.src, seg.sport) if seg.direction == 0 else (f.dst, seg.dport)
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _ending(c: _Conn, f: Frame) -> str:
    """How a connection ended, told by its first FIN/RST and the session notes on it."""
    seg = f.seg
    assert seg is not None
    keys = {k for k, _m in seg.session_notes or ()}
    how = "RST" if seg.flags & RST else "FIN"
    who = "client" if seg.direction == 0 else "broker"
    if "taken_over" in keys:
        return f"taken over ({how} by {who})"
    if "keepalive_expired" in keys:
        return f"keep-alive expired ({how} by {who})"
    if c.refused:
        return f"refused by CONNACK ({how} by {who})"
    if c.disconnect:
        return f"DISCONNECT by {c.disconnect}"
    return f"{how} by {who} without DISCONNECT"


class ClientsStat:
    def __init__(self) -> None:
        self.conns: dict[int, _Conn] = {}
        # connections() copies only the connections changed since its last call (the UI asks every
        # 0.3 s under the model's lock: 10,000 copies took 30 ms); in the order of self.conns
        self._info: dict[int, ConnInfo | None] = {}
        self._dirty: set[int] = set()

    def frame(self, f: Frame) -> None:
        seg = f.seg
        if seg is None:
            return
        c = self.conns.get(f.stream)
        if f.pdus:
            if c is None:
                c = self.conns[f.stream] = _Conn(_client_addr(f), f.number)
                self._info[f.stream] = None
            self._dirty.add(f.stream)
            c.last = f.number
            c.last_ts = f.ts
            for p in f.pdus:
                a = p.ann
                d = seg.direction if a is None else a.direction
                c.pdus[d] += 1
                c.bytes[d] += len(p.data)
                if a is not None:
                    if a.client is not None and c.client is None:
                        c.client = a.client
                    if a.version:
                        c.version = a.version
                t = p.msgtype
                if t == C.CONNECT and d == 0:
                    c.connects += 1
                    if c.keepalive < 0:
                        c.keepalive = connect_facts(p).keepalive
                elif t == C.PUBLISH and p.flags & 6 and p.msgid >= 0:
                    c.inflight[d][p.msgid] = f.number
                elif t in (C.PUBACK, C.PUBREC):
                    c.inflight[1 - d].pop(p.msgid, None)
                    if a is not None and a.time >= 0:
                        c.acks.append(a.time)
                elif t == C.DISCONNECT:
                    c.disconnect = c.disconnect or ("client" if d == 0 else "broker")
                elif t == C.CONNACK and a is not None and any(k == "connack_refused" for k, _m in a.notes):
                    c.refused = True
        if c is not None and seg.flags & (FIN | RST) and not c.ended:
            c.ended = _ending(c, f)
            c.last = f.number
            c.last_ts = f.ts
            self._dirty.add(f.stream)

    def connections(self) -> list[ConnInfo]:
        """Every connection so far, in order of first frame (what render() and the UI's Clients view show)."""
        info, conns = self._info, self.conns
        for stream in self._dirty:
            c = conns[stream]
            info[stream] = ConnInfo(
                stream,
                c.client,
                c.addr,
                c.version,
                c.keepalive,
                c.connects,
                (c.pdus[0], c.pdus[1]),
                (c.bytes[0], c.bytes[1]),
                len(c.inflight[0]) + len(c.inflight[1]),
                c.ended,
                c.first,
                c.last,
                c.last_ts,
            )  # fmt: skip
        self._dirty.clear()
        return cast("list[ConnInfo]", list(info.values()))  # every entry is filled above

    def render(self, duration: float) -> str:
        by_client: dict[str | None, list[ConnInfo]] = {}
        for c in self.connections():
            by_client.setdefault(c.client, []).append(c)
        rows: list[list[str]] = []
        order = sorted(by_client, key=lambda k: (k is None, k or ""))
        for client in order:
            conns = by_client[client]
            acks = sorted(t for c in conns for t in self.conns[c.stream].acks)
            unacked = sum(c.unacked for c in conns)
            name = "(no CONNECT seen)" if client is None else text(client)
            rows.append([
                name, str(sum(c.connects for c in conns)),
                str(sum(c.pdus[0] for c in conns)), str(sum(c.bytes[0] for c in conns)),
                str(sum(c.pdus[1] for c in conns)), str(sum(c.bytes[1] for c in conns)),
                str(unacked), secs(acks[0] if acks else None), secs(median(acks)), secs(acks[-1] if acks else None),
            ])  # fmt: skip
            for c in sorted(conns, key=lambda c: c.first):
                ver = f"MQTT {c.version_text}"
                ka = f"keep-alive {c.keepalive} s" if c.keepalive >= 0 else "keep-alive ?"
                ended = c.ended or "still open at the end"
                rows.append([f"  {c.addr}  {ver}  {ka}  frames {c.first}-{c.last}  ended: {ended}"])
        heads = ["Client ID", "Connects", "PDUs ->", "Bytes ->", "PDUs <-", "Bytes <-", "Unacked",
                 "Ack min", "Ack median", "Ack max"]  # fmt: skip
        client_rows = [r for r in rows if len(r) > 1]
        lines = table(heads, client_rows)
        # connection lines go under their client's line, outside the column widths
        out = [lines[0]]
        it = iter(lines[1:])
        for r in rows:
            out.append(next(it) if len(r) > 1 else r[0])
        legend = "-> client to broker, <- broker to client; Ack: PUBLISH to its PUBACK/PUBREC (mqtt.time), seconds"
        return block("MQTT Clients", [legend, "", *out])
