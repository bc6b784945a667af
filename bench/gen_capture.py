"""Write a realistic MQTT capture of any size: many interleaved 3.1.1/5 clients over TCP (see sniffer/synth/traffic.py).

Usage: python bench/gen_capture.py OUT.pcap --frames 1000000 [--clients 200] [--seed 1] [--v5-share 0.5]
Prints the frames and MQTT PDUs by type it wrote to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from sniffer.synth.mqtt_encode import TYPE_NAMES  # noqa: E402
from sniffer.synth.pcap_write import FrameList, PcapWriter  # noqa: E402
from sniffer.synth.traffic import generate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate a realistic MQTT capture (pcap, or pcapng by suffix).")
    ap.add_argument("out", help="output file (.pcap, or .pcapng through scapy: slower)")
    ap.add_argument("--frames", type=int, default=1_000_000, help="exact number of frames to write")
    ap.add_argument("--clients", type=int, default=200, help="concurrent MQTT clients")
    ap.add_argument("--seed", type=int, default=1, help="random seed (same seed, same file)")
    ap.add_argument("--v5-share", type=float, default=0.5, help="share of clients speaking MQTT 5 (others 3.1.1)")
    ap.add_argument("--ipv6-share", type=float, default=0.0, help="share of clients on IPv6")
    ap.add_argument("--large-share", type=float, default=0.01, help="share of actions that send a 6-300 KB payload")
    a = ap.parse_args(argv)
    if a.frames < 20 or a.clients < 1 or not 0 <= a.v5_share <= 1 or not 0 <= a.ipv6_share <= 1:
        print("gen_capture: need --frames >= 20, --clients >= 1 and shares within 0..1", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        sink = FrameList() if a.out.endswith(".pcapng") else PcapWriter(a.out)
    except OSError as e:
        print(f"gen_capture: cannot write {a.out}: {e.strerror}", file=sys.stderr)
        return 1
    counts = generate(
        sink,
        a.frames,
        clients=a.clients,
        seed=a.seed,
        v5_share=a.v5_share,
        ipv6_share=a.ipv6_share,
        large_share=a.large_share,
    )
    if isinstance(sink, FrameList):
        sink.save(a.out)
    else:
        sink.close()
    took = time.perf_counter() - start
    print(f"frames: {sink.frames}", file=sys.stderr)
    print(f"mqtt pdus: {sum(counts.values())}", file=sys.stderr)
    for t in sorted(counts):
        print(f"  {t:2d} {TYPE_NAMES[t]:<12} {counts[t]}", file=sys.stderr)
    print(f"took {took:.1f} s ({sink.frames / took:,.0f} frames/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
