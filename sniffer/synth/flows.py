"""TCP flow builder: turns (direction, MQTT bytes) into Ethernet/IPv4-or-IPv6/TCP frames.

A `TcpFlow` plays both ends of one connection as a capture point between them would see it:
a three-way handshake with Linux-like options (MSS, SACK_PERM, timestamps, window scale),
data segmented at the MSS (one PDU across many segments) or several PDUs coalesced into one
segment, the receiver's ACKs (every second full segment, like delayed ACK), and a FIN/ACK close
or an RST.  Sequence and acknowledgement numbers, IP and TCP checksums are all correct, so
tshark's TCP analysis and checksum validation stay clean.  Frames go to a sink with a
`write(ts_us, frame)` method (`PcapWriter` or `FrameList`).

Time is integer microseconds.  Every method takes the time of its first frame and returns the
time of its last one, so a caller interleaving many flows keeps one monotonic clock.
"""

from __future__ import annotations

import ipaddress
import struct
import sys
from array import array
from typing import Protocol

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_SWAP = sys.byteorder == "little"
_IP4 = struct.Struct("!BBHHHBBH4s4s")
_IP6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIBBHHH")
_TSOPT = struct.Struct("!BBBBII")  # NOP NOP kind=8 len=10 TSval TSecr


class Sink(Protocol):
    def write(self, ts_us: int, frame: bytes) -> None: ...


def _sum16(data: bytes) -> int:
    """Ones-complement sum of 16-bit words in native order (RFC 1071: byte order independent)."""
    if len(data) & 1:
        data += b"\0"
    return sum(array("H", data))


def _fold(s: int) -> int:
    """Finish a native-order sum into the checksum as a big-endian 16-bit value."""
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    c = ~s & 0xFFFF
    return ((c & 0xFF) << 8 | c >> 8) if _SWAP else c


def ip_checksum(data: bytes) -> int:
    """Internet checksum of `data` (the value to store, big-endian)."""
    return _fold(_sum16(data))


def mac(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


class _Side:
    """One end of the connection: its addresses, next sequence number and what it has received."""

    __slots__ = ("addr", "port", "mac", "seq", "rcv", "acked", "ip_id", "ts_off", "peer_ts", "isn", "eth", "pseudo")

    def __init__(self, addr: bytes, port: int, mac_: bytes, isn: int, ip_id: int, ts_off: int) -> None:
        self.addr = addr
        self.port = port
        self.mac = mac_
        self.isn = isn
        self.seq = isn
        self.rcv = 0  # next byte expected from the peer (our ACK number)
        self.acked = 0  # the ACK number we last sent: a bare ACK is only sent when it advances
        self.ip_id = ip_id
        self.ts_off = ts_off
        self.peer_ts = 0
        self.eth = b""
        self.pseudo = 0


class TcpFlow:
    """One TCP connection between a client (side 0) and a server (side 1)."""

    def __init__(
        self,
        sink: Sink,
        client: tuple[str, int] = ("192.168.1.20", 50000),
        server: tuple[str, int] = ("10.0.0.1", 1883),
        *,
        client_mac: str = "02:00:00:00:00:02",
        server_mac: str = "02:00:00:00:00:01",
        mss: int | None = None,
        isn: tuple[int, int] = (0x1A2B3C4D, 0x5E6F7081),
        ip_id: tuple[int, int] = (0x1000, 0x2000),
        rtt_us: int = 2000,
        window: int = 502,
        wscale: int = 7,
    ) -> None:
        ca, sa = ipaddress.ip_address(client[0]), ipaddress.ip_address(server[0])
        if ca.version != sa.version:
            raise ValueError("client and server must use the same IP version")
        self.sink = sink
        self.ipv6 = ca.version == 6
        self.mss = mss if mss is not None else (1440 if self.ipv6 else 1460)
        # payload per segment: the MSS minus the 12-byte timestamp option every segment carries
        self.seg_payload = self.mss - 12
        self.rtt_us = rtt_us
        self.window = window
        self.wscale = wscale
        ts_base = (isn[0] ^ isn[1]) & 0x7FFFFFFF
        self.sides = (
            _Side(ca.packed, client[1], mac(client_mac), isn[0], ip_id[0], ts_base),
            _Side(sa.packed, server[1], mac(server_mac), isn[1], ip_id[1], ts_base ^ 0x5A5A5A),
        )
        etype = b"\x86\xdd" if self.ipv6 else b"\x08\x00"
        for i, s in enumerate(self.sides):
            peer = self.sides[1 - i]
            s.eth = peer.mac + s.mac + etype
            # pseudo-header sum without the length (added per segment)
            s.pseudo = _sum16(s.addr + peer.addr + b"\x00\x06")
        self.frames = 0
        self.closed = False

    # ---- frame construction -------------------------------------------------------------

    def _frame(self, side: int, t: int, flags: int, payload: bytes = b"", opts: bytes | None = None) -> None:
        s = self.sides[side]
        peer = self.sides[1 - side]
        if opts is None:
            tsval = (t // 1000 + s.ts_off) & 0xFFFFFFFF
            opts = _TSOPT.pack(1, 1, 8, 10, tsval, s.peer_ts)
            peer.peer_ts = tsval
        ack = s.rcv if flags & ACK else 0
        if flags & ACK:
            s.acked = ack
        hlen = 20 + len(opts)
        win = self.window if not flags & SYN else (64240 if side == 0 else 65160)
        tcp = _TCP.pack(s.port, peer.port, s.seq, ack, hlen << 2, flags, win, 0, 0) + opts
        tlen = hlen + len(payload)
        csum = _fold(s.pseudo + (tlen >> 8 | (tlen & 0xFF) << 8 if _SWAP else tlen) + _sum16(tcp) + _sum16(payload))
        tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
        if self.ipv6:
            ip = _IP6.pack(0x60000000 | (s.port * 2654435761) & 0xFFFFF, tlen, 6, 64, s.addr, peer.addr)
        else:
            s.ip_id = (s.ip_id + 1) & 0xFFFF
            hdr = _IP4.pack(0x45, 0, 20 + tlen, s.ip_id, 0x4000, 64, 6, 0, s.addr, peer.addr)
            ip = hdr[:10] + struct.pack("!H", ip_checksum(hdr)) + hdr[12:]
        self.sink.write(t, s.eth + ip + tcp + payload)
        self.frames += 1
        # SYN and FIN take one sequence number each
        s.seq = (s.seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        peer.rcv = s.seq

    def _syn_opts(self, side: int, t: int) -> bytes:
        s, peer = self.sides[side], self.sides[1 - side]
        tsval = (t // 1000 + s.ts_off) & 0xFFFFFFFF
        peer.peer_ts = tsval
        # Linux order: MSS, SACK_PERM, TS, NOP, WS
        return struct.pack("!BBH BB BBII B BBB", 2, 4, self.mss, 4, 2, 8, 10, tsval, s.peer_ts, 1, 3, 3, self.wscale)

    # ---- connection events ---------------------------------------------------------------

    def open(self, t: int) -> int:
        """Three-way handshake starting at `t`; returns the time of the final ACK."""
        half = self.rtt_us // 2
        self._frame(0, t, SYN, opts=self._syn_opts(0, t))
        self._frame(1, t + half, SYN | ACK, opts=self._syn_opts(1, t + half))
        self._frame(0, t + self.rtt_us, ACK)
        return t + self.rtt_us

    def send(
        self,
        side: int,
        data: bytes | list[bytes] | tuple[bytes, ...],
        t: int,
        *,
        ack: bool = True,
        split: list[int] | None = None,
        gap_us: int = 20,
        whole_headers: bool = True,
    ) -> int:
        """Send `data` (PDUs in a list are coalesced) from `side` (0 client, 1 server) at `t`.

        Segments are cut at the MSS, or at the sizes in `split` (the rest goes at the MSS), so a
        test can cut inside a Remaining Length varint.  For a list of PDUs without `split`, cuts
        that would fall inside a PDU's fixed header move back to the header's start unless
        `whole_headers` is False (tshark 4.0 loses the stream on a split Remaining Length,
        so captures meant to agree with tshark avoid it).  The receiver ACKs every second segment
        and, with `ack`, the tail (pass ack=False when a reply will carry the ACK).
        Returns the time of the last frame."""
        if isinstance(data, (list, tuple)):
            if split is None and whole_headers:
                split = self._cuts_outside_headers(data)
            data = b"".join(data)
        mv = memoryview(data)
        sizes = list(split or ())
        pos, n, unacked = 0, len(data), 0
        other = 1 - side
        while pos < n:
            size = sizes.pop(0) if sizes else self.seg_payload
            chunk = bytes(mv[pos : pos + size])
            pos += len(chunk)
            self._frame(side, t, PSH | ACK if pos >= n else ACK, chunk)
            unacked += 1
            if unacked == 2 and pos < n:
                t += gap_us
                self._frame(other, t, ACK)
                unacked = 0
            t += gap_us + len(chunk) // 200
        if ack:
            t = self.ack(other, t + self.rtt_us // 2 - gap_us)
        return t

    def _cuts_outside_headers(self, pdus: list[bytes] | tuple[bytes, ...]) -> list[int]:
        """Segment sizes at the MSS, shortened where a cut would split a fixed header."""
        heads: list[tuple[int, int]] = []  # (start, end) of each fixed header in the stream
        pos = 0
        for p in pdus:
            n = 1
            while n < len(p) and n < 5 and p[n] & 0x80:
                n += 1
            heads.append((pos, pos + n + 1))
            pos += len(p)
        sizes, start, hi = [], 0, 0
        while start < pos:
            cut = min(start + self.seg_payload, pos)
            while hi < len(heads) and heads[hi][1] <= cut:
                hi += 1
            if hi < len(heads) and heads[hi][0] < cut < heads[hi][1] and heads[hi][0] > start:
                cut = heads[hi][0]
            sizes.append(cut - start)
            start = cut
        return sizes

    def ack(self, side: int, t: int) -> int:
        """A bare ACK from `side` if it has received data it has not yet acknowledged."""
        s = self.sides[side]
        if s.rcv != s.acked:
            self._frame(side, t, ACK)
        return t

    def close(self, t: int, side: int = 0) -> int:
        """Orderly close started by `side`: FIN/ACK, the peer's FIN/ACK, the final ACK."""
        half = self.rtt_us // 2
        self._frame(side, t, FIN | ACK)
        self._frame(1 - side, t + half, FIN | ACK)
        self._frame(side, t + self.rtt_us, ACK)
        self.closed = True
        return t + self.rtt_us

    def reset(self, t: int, side: int = 0) -> int:
        """Abort from `side` with RST/ACK."""
        self._frame(side, t, RST | ACK)
        self.closed = True
        return t

    def stream_bytes(self, side: int) -> int:
        """Payload bytes `side` has sent so far (relative sequence number minus SYN)."""
        s = self.sides[side]
        return (s.seq - s.isn - 1) & 0xFFFFFFFF
