"""Grow the public captures (tests/captures) into a benchmark shape: copies one after another in time,
each copy's connections on their own client ports, until --frames frames.

    python bench/replicate_public.py OUT.pcap [--frames 200000]

Issue 17 asks for speed ratios on "the public captures merged": 244 frames in 11 files are too few to
time, so they are repeated. A copy must not look like the same TCP connection again (tshark and
mqttsniff would take it for retransmissions), so each copy moves the client-side port (the one that is
not 1883/8883) by a step of its own; the TCP checksum is left as it was (neither tool checks it by
default) and the IP header, untouched, keeps its own. Raw-IPv4 frames get an Ethernet header so that
one link type holds them all. Frames are written whole (orig_len = captured length).
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sniffer.net.pcapfile import open_capture  # noqa: E402
from sniffer.synth.pcap_write import PcapWriter  # noqa: E402

LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_IPV4 = 1, 101, 228
SERVER_PORTS = {1883, 8883}
ETHER_IPV4 = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"


def tcp_offset(frame: bytes) -> int:
    """Where the TCP header starts in an Ethernet frame (VLAN tags, IPv4 or IPv6), or -1."""
    p = 12
    etype = frame[p] << 8 | frame[p + 1]
    while etype in (0x8100, 0x88A8):
        p += 4
        etype = frame[p] << 8 | frame[p + 1]
    p += 2
    if etype == 0x0800 and frame[p + 9] == 6:
        return p + (frame[p] & 15) * 4
    if etype == 0x86DD and frame[p + 6] == 6:
        return p + 40
    return -1


def frames() -> list[tuple[float, bytes]]:
    """Every frame of the public captures as Ethernet, one capture after another (times made relative)."""
    out: list[tuple[float, bytes]] = []
    t = 0.0
    for path in sorted((ROOT / "tests" / "captures").glob("*.pcap*")):
        recs = list(open_capture(str(path)))
        first = recs[0][0]
        for ts, data, _orig, linktype in recs:
            if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
                data = ETHER_IPV4 + data
            elif linktype != LINKTYPE_ETHERNET:
                continue
            out.append((t + ts - first, data))
        t = out[-1][0] + 1.0
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--frames", type=int, default=200_000)
    a = ap.parse_args()
    base = frames()
    span = base[-1][0] + 1.0
    w = PcapWriter(a.out)
    t0 = 1_700_000_000.0
    copy = 0
    while w.frames < a.frames:
        shift = copy % 20_000  # ports stay in 1024..65535 for the client side
        for ts, data in base:
            if w.frames >= a.frames:
                break
            off = tcp_offset(data)
            if off >= 0 and shift:
                buf = bytearray(data)
                sport, dport = struct.unpack_from("!HH", buf, off)
                if sport not in SERVER_PORTS:
                    sport = 1024 + (sport - 1024 + shift * 2) % 64000
                if dport not in SERVER_PORTS:
                    dport = 1024 + (dport - 1024 + shift * 2) % 64000
                struct.pack_into("!HH", buf, off, sport, dport)
                data = bytes(buf)
            w.write(round((t0 + copy * span + ts) * 1e6), data)
        copy += 1
    w.close()
    print(f"{w.frames} frames, {copy} copies of {len(base)} public frames", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
