"""Impaired copies of generated captures: what a real link or capture point does to frames.

Tests and the demo of a lossy link build a clean capture with `TcpFlow` into a `FrameList`,
then derive from it what a real capture would hold: a segment lost (kernel ring overflow,
a one-direction tap), segments reordered, packets fragmented by a router with a smaller MTU.
A short snapshot length is PcapWriter's `snaplen`.  Every function takes and returns
`(ts_us, frame)` lists and never touches the original frames' bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from sniffer.synth.flows import ip_checksum

Frames = list[tuple[int, bytes]]


def tcp_payload_len(frame: bytes) -> int:
    """TCP payload length of an Ethernet/IPv4-or-IPv6 frame (from the IP length), 0 if not TCP."""
    etype = struct.unpack_from("!H", frame, 12)[0]
    if etype == 0x0800:
        ihl = (frame[14] & 15) * 4
        if frame[23] != 6:
            return 0
        total = struct.unpack_from("!H", frame, 16)[0]
        thl = (frame[14 + ihl + 12] >> 4) * 4
        return total - ihl - thl
    if etype == 0x86DD:
        if frame[20] != 6:
            return 0
        plen = struct.unpack_from("!H", frame, 18)[0]
        thl = (frame[54 + 12] >> 4) * 4
        return plen - thl
    return 0


def tcp_ports(frame: bytes) -> tuple[int, int]:
    """(source port, destination port) of an Ethernet/IPv4-or-IPv6 TCP frame."""
    etype = struct.unpack_from("!H", frame, 12)[0]
    off = 14 + ((frame[14] & 15) * 4 if etype == 0x0800 else 40)
    return struct.unpack_from("!HH", frame, off)


def data_frames(frames: Frames, sport: int | None = None) -> list[int]:
    """Indexes of the frames that carry TCP payload (from `sport` only, if given)."""
    return [
        i
        for i, (_, fr) in enumerate(frames)
        if tcp_payload_len(fr) > 0 and (sport is None or tcp_ports(fr)[0] == sport)
    ]


def drop(frames: Frames, indexes: Iterable[int]) -> Frames:
    """The capture without the frames at `indexes` (lost by the capture point)."""
    gone = set(indexes)
    return [f for i, f in enumerate(frames) if i not in gone]


def keep(frames: Frames, pred: Callable[[bytes], bool]) -> Frames:
    """Only the frames for which `pred(frame)` holds (e.g. one direction of a tap)."""
    return [f for f in frames if pred(f[1])]


def move(frames: Frames, index: int, after: int) -> Frames:
    """Frame `index` delivered after frame `after` (reordering), keeping timestamps monotonic."""
    out = list(frames)
    item = out.pop(index)
    pos = after if after < index else after - 1
    ts = out[pos][0]
    out.insert(pos + 1, (ts, item[1]))
    return out


def fragment(frames: Frames, mtu: int, order: Callable[[int], list[int]] | None = None, ident: int = 0x4D51) -> Frames:
    """Every Ethernet/IPv4-or-IPv6 packet longer than `mtu` split into IP fragments, as a router does with a
    packet whose sender left Don't Fragment clear (IPv6: with a Fragment header, as the sender itself does).
    `order(n)`: the order the n fragments of a packet arrive in (None: in order); `ident`: the first IPv6
    Identification (IPv4 packets keep their own)."""
    out: Frames = []
    for ts, fr in frames:
        etype = struct.unpack_from("!H", fr, 12)[0]
        if len(fr) - 14 <= mtu or etype not in (0x0800, 0x86DD):
            out.append((ts, fr))
            continue
        if etype == 0x0800:
            parts = _fragments4(fr, mtu)
        else:
            parts = _fragments6(fr, mtu, ident)
            ident += 1
        for k, i in enumerate(order(len(parts)) if order is not None else range(len(parts))):
            out.append((ts + k, parts[i]))
    return out


def _fragments4(fr: bytes, mtu: int) -> list[bytes]:
    ihl = (fr[14] & 15) * 4
    hdr, payload = fr[14 : 14 + ihl], fr[14 + ihl :]
    step = (mtu - ihl) // 8 * 8
    parts = []
    for off in range(0, len(payload), step):
        part = payload[off : off + step]
        h = bytearray(hdr)
        struct.pack_into(
            "!HHH", h, 2, ihl + len(part), h[4] << 8 | h[5], (0x2000 if off + step < len(payload) else 0) | off // 8
        )
        struct.pack_into("!H", h, 10, 0)
        struct.pack_into("!H", h, 10, ip_checksum(bytes(h)))
        parts.append(fr[:14] + bytes(h) + part)
    return parts


def _fragments6(fr: bytes, mtu: int, ident: int) -> list[bytes]:
    hdr, payload = fr[14:54], fr[54:]
    step = (mtu - 48) // 8 * 8
    parts = []
    for off in range(0, len(payload), step):
        part = payload[off : off + step]
        h = bytearray(hdr)
        struct.pack_into("!H", h, 4, 8 + len(part))
        h[6] = 44  # Fragment header, then what the packet carried
        more = 1 if off + step < len(payload) else 0
        parts.append(fr[:14] + bytes(h) + struct.pack("!BBHI", hdr[6], 0, off | more, ident) + part)
    return parts
