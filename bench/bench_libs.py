"""scapy's MQTT layer and pyshark on a slice of a capture: speed, memory, and how many MQTT PDUs each finds.

    python bench/bench_libs.py [--capture F] [--scapy-frames 10000] [--pyshark-frames 2000] [--runs 3]
    python bench/bench_libs.py --worker scapy|pyshark|pyshark-json SLICE [--counts OUT]   (one timed run)

Each library runs in its own child process (so its peak RSS is its own, from wait4). The worker reads
the slice, counts the MQTT PDUs of every frame, and prints one JSON line: frames, PDUs, and the seconds
spent in the read loop (imports excluded, so the rate scales to larger captures). The per-frame counts
are compared with tshark's on the same slice:

- scapy: `scapy.contrib.mqtt` binds TCP port 1883 itself; we walk the chain of MQTT layers per frame.
  Its MQTT layer has no stream reassembly, so a PUBLISH split over segments and several PDUs sharing a
  segment come out wrong (continuation bytes read as new PDUs, MQTT 5 properties read as a type-0 PDU).
- pyshark default mode (PDML) lists every MQTT layer tshark found; its JSON mode (`use_json=True`)
  keeps only one layer per protocol name, so PDUs that share a frame are dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _scapy(path: str) -> tuple[list[int], float]:
    import scapy.contrib.mqtt as mqtt  # binds TCP port 1883 to MQTT on import
    from scapy.utils import PcapReader  # never scapy.all: only what the MQTT layer needs

    counts = []
    t0 = time.perf_counter()
    for pkt in PcapReader(path):
        n = 0
        layer = pkt.getlayer(mqtt.MQTT)
        while layer is not None:
            n += 1
            layer = layer.payload.getlayer(mqtt.MQTT) if layer.payload else None
        counts.append(n)
    return counts, time.perf_counter() - t0


def _pyshark(path: str, use_json: bool) -> tuple[list[int], float]:
    import pyshark

    counts = []
    t0 = time.perf_counter()
    cap = pyshark.FileCapture(path, keep_packets=False, use_json=use_json)
    try:
        for pkt in cap:
            counts.append(sum(1 for layer in pkt.layers if layer.layer_name == "mqtt"))
    finally:
        cap.close()
    return counts, time.perf_counter() - t0


def worker(tool: str, path: str, counts_out: str | None) -> int:
    if tool == "scapy":
        counts, secs = _scapy(path)
    elif tool in ("pyshark", "pyshark-json"):
        counts, secs = _pyshark(path, tool == "pyshark-json")
    else:
        raise SystemExit(f"bench_libs: unknown worker {tool!r}")
    if counts_out:
        Path(counts_out).write_text("".join(f"{c}\n" for c in counts))
    print(json.dumps({"tool": tool, "frames": len(counts), "pdus": sum(counts), "seconds": secs}))
    return 0


def run_worker_rss(tool: str, path: str, counts_out: str | None = None) -> dict:
    """One timed child run: its JSON line, wall seconds and the child's peak RSS (KiB, wait4; for pyshark
    this is the Python process, not the tshark it drives)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", tool, path]
    if counts_out:
        cmd += ["--counts", counts_out]
    with tempfile.TemporaryFile() as out:
        wall, rss_kib = measured(cmd, out)
        out.seek(0)
        res = json.loads(out.read().decode().strip().splitlines()[-1])
    res["wall"] = wall
    res["rss_kib"] = rss_kib
    return res


# Linux folds the parent's memory into a child's ru_maxrss at exec (the forked copy of the parent's address
# space is the child's first one), so a big benchmark driver would inflate every child's peak RSS. A small
# helper process starts the measured command instead and reports its wall time and wait4 peak RSS.
_HELPER = r"""
import os, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:])
_, status, ru = os.wait4(p.pid, 0)
sys.stderr.write(f"\n__MEASURED__ {time.perf_counter() - t0} {ru.ru_maxrss} {os.waitstatus_to_exitcode(status)}\n")
"""


def measured(cmd: list[str], stdout, cwd: str | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB) of `cmd` run through the small helper; stdout to the given file."""
    with tempfile.TemporaryFile() as err:
        subprocess.run([sys.executable, "-c", _HELPER, *cmd], stdout=stdout, stderr=err, cwd=cwd, check=False)
        err.seek(0)
        text = err.read().decode(errors="replace")
    tail = text.rsplit("__MEASURED__", 1)
    if len(tail) != 2:
        raise RuntimeError(f"failed: {' '.join(cmd)}: {text[-400:]}")
    wall, rss, code = tail[1].split()
    if int(code) != 0:
        raise RuntimeError(f"failed ({code}): {' '.join(cmd)}: {tail[0][-400:]}")
    return float(wall), int(rss)


def tshark_counts(path: str) -> list[int]:
    """Per-frame MQTT PDU counts by tshark (the reference)."""
    out = subprocess.run(
        ["tshark", "-r", path, "-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts = []
    for line in out.splitlines():
        cells = line.split("\t")
        counts.append(len(cells[1].split(",")) if len(cells) > 1 and cells[1] else 0)
    return counts


def compare(ref: list[int], got: list[int]) -> dict:
    """How a library's per-frame PDU counts differ from tshark's."""
    same = more = fewer = 0
    for r, g in zip(ref, got, strict=False):
        if g == r:
            same += 1
        elif g > r:
            more += 1
        else:
            fewer += 1
    return {
        "frames": len(got),
        "ref_frames": len(ref),
        "pdus": sum(got),
        "ref_pdus": sum(ref),
        "frames_same": same,
        "frames_more": more,
        "frames_fewer": fewer,
        "pdu_error_pct": (sum(got) - sum(ref)) * 100.0 / max(sum(ref), 1),
    }


def make_slice(src: str, frames: int, out: str) -> str:
    """The first `frames` frames of `src` (editcap, from the Wireshark suite)."""
    if not os.path.exists(out):
        subprocess.run(["editcap", "-r", src, out, f"1-{frames}"], check=True, capture_output=True)
    return out


def measure(tool: str, path: str, runs: int, work: str) -> dict:
    """Median of `runs` worker runs, counts compared with tshark's on the same slice."""
    counts_file = os.path.join(work, f"{tool}-{Path(path).stem}.counts")
    results = [run_worker_rss(tool, path, counts_file if i == 0 else None) for i in range(runs)]
    got = [int(x) for x in Path(counts_file).read_text().split()]
    res = {
        "tool": tool,
        "seconds": statistics.median(r["seconds"] for r in results),
        "wall": statistics.median(r["wall"] for r in results),
        "rss_kib": max(r["rss_kib"] for r in results),
    }
    res.update(compare(tshark_counts(path), got))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=2, metavar=("TOOL", "SLICE"), help=argparse.SUPPRESS)
    ap.add_argument("--counts", help=argparse.SUPPRESS)
    ap.add_argument("--capture", default=str(HERE / "out" / "gen-1000000.pcap"))
    ap.add_argument("--scapy-frames", type=int, default=10_000)
    ap.add_argument("--pyshark-frames", type=int, default=2_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args(argv)
    if a.worker:
        return worker(a.worker[0], a.worker[1], a.counts)
    if not os.path.exists(a.capture):
        subprocess.run([sys.executable, str(HERE / "gen_capture.py"), a.capture, "--frames", "1000000"], check=True)
    with tempfile.TemporaryDirectory(prefix="bench-libs-") as work:
        plan = [
            ("scapy", a.scapy_frames),
            ("pyshark", a.pyshark_frames),
            ("pyshark-json", a.pyshark_frames),
        ]
        print("| library | frames | frames/s | PDUs found | tshark's PDUs | PDU error | frames right | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for tool, n in plan:
            sl = make_slice(a.capture, n, os.path.join(work, f"slice-{n}.pcap"))
            r = measure(tool, sl, a.runs, work)
            print(
                f"| {tool} | {r['frames']:,} | {r['frames'] / r['seconds']:,.0f} | {r['pdus']:,} | {r['ref_pdus']:,}"
                f" | {r['pdu_error_pct']:+.1f}% | {r['frames_same'] * 100 / r['frames']:.1f}% |"
                f" {r['rss_kib'] / 1024:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
