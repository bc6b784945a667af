"""The session layer's cost and its memory over many short connections.

    python bench/bench_sessions.py [--connections 100000] [--capture F] [--runs 3]

1. Memory: N short-lived MQTT connections (SYN, CONNECT, CONNACK, a QoS 1 PUBLISH and its PUBACK,
   DISCONNECT, FIN both ways), generated in memory with sniffer.synth and fed to one Dissector with
   the tracker on; every N/10 connections it prints the tracker's tables and the traced memory,
   which must stay flat (closed connections leave the tracker).
2. Cost, on a capture (default: 200k frames from bench/gen_capture.py), in one process, alternating:
   the dissector without the tracker, with it (what -V, JSON, session fields and the UI run), and
   the two passes of -2. CPU seconds, median of --runs.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sniffer.net.pcapfile import open_capture  # noqa: E402
from sniffer.pipeline import Dissector  # noqa: E402
from sniffer.synth import mqtt_encode as E  # noqa: E402
from sniffer.synth.flows import TcpFlow  # noqa: E402
from sniffer.synth.pcap_write import FrameList  # noqa: E402


def memory(connections: int) -> list[tuple[int, int, int, int, int]]:
    """(connections so far, open in tracker, client ids, remembered publications, traced KiB)."""
    d = Dissector()
    tracker = d.tracker
    assert tracker is not None
    tracemalloc.start()
    rows = []
    number = 0
    t = 1_700_000_000_000_000
    step = max(connections // 10, 1)
    for i in range(connections):
        fl = FrameList()
        f = TcpFlow(fl, client=(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255 or 1}", 20000 + i % 40000))
        t = f.open(t + 100)
        t = f.send(0, E.connect(f"dev-{i}"), t + 10, ack=False)
        t = f.send(1, E.connack(), t + 10)
        t = f.send(0, E.publish(f"t/{i % 100}", b"v" * 20, qos=1, msgid=1), t + 10, ack=False)
        t = f.send(1, E.puback(1), t + 10)
        t = f.send(0, E.disconnect(), t + 10)
        t = f.close(t + 10)
        for ts, frame in fl.frames_list:
            number += 1
            d.frame(number, ts / 1e6, 1, frame, len(frame))  # the frames are not kept
        if (i + 1) % step == 0:
            gc.collect()
            kib = tracemalloc.get_traced_memory()[0] // 1024
            rows.append((i + 1, len(tracker.conns), len(tracker.clients), len(tracker.pub_order), kib))
    tracemalloc.stop()
    return rows


def cost(path: str, runs: int) -> dict[str, float]:
    recs = list(open_capture(path))

    def one(**kw: object) -> float:
        d = Dissector(**kw)  # type: ignore[arg-type]
        f = d.frame
        t0 = time.process_time()
        for n, (ts, data, ol, lt) in enumerate(recs, 1):
            f(n, ts, lt, data, ol)
        return time.process_time() - t0

    def two() -> float:
        d = Dissector(record=True)
        f = d.frame
        t0 = time.process_time()
        for n, (ts, data, ol, lt) in enumerate(recs, 1):
            f(n, ts, lt, data, ol)
        assert d.tracker is not None
        d2 = Dissector(prefill=d.tracker.backfill)
        f = d2.frame
        for n, (ts, data, ol, lt) in enumerate(recs, 1):
            f(n, ts, lt, data, ol)
        return time.process_time() - t0

    res: dict[str, list[float]] = {"without the tracker": [], "with the tracker": [], "-2 (two passes)": []}
    for _ in range(runs):
        res["without the tracker"].append(one(sessions=False))
        res["with the tracker"].append(one())
        res["-2 (two passes)"].append(two())
    return {k: statistics.median(v) for k, v in res.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--capture", help="capture for the cost part (default: 200k generated frames)")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    import sniffer.native as native

    print(f"build: {native.MODE}")
    print(f"\n## Memory over {a.connections:,} short connections\n")
    print("| connections | open in tracker | client ids | publications kept | traced memory |")
    print("|---:|---:|---:|---:|---:|")
    for n, open_, cids, pubs, kib in memory(a.connections):
        print(f"| {n:,} | {open_} | {cids} | {pubs} | {kib:,} KiB |")
    path = a.capture
    if path is None:
        path = str(Path(tempfile.mkdtemp()) / "b200k.pcap")
        gen = Path(__file__).resolve().parent / "gen_capture.py"
        subprocess.run([sys.executable, str(gen), "--frames", "200000", path], check=True, capture_output=True)
    print(f"\n## Cost on {path} (CPU seconds, median of {a.runs})\n")
    res = cost(path, a.runs)
    base = res["without the tracker"]
    print("| pass | CPU s | vs without |")
    print("|---|---:|---:|")
    for k, v in res.items():
        print(f"| {k} | {v:.2f} | {v / base:.2f}x |")


if __name__ == "__main__":
    main()
