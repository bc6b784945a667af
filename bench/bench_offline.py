"""Offline dissection, side by side: mqttsniff vs tshark on the same generated capture, in one run.

    python bench/bench_offline.py [--frames 1000000] [--runs 3] [--capture FILE]

Generates (or reuses) a realistic capture with bench/gen_capture.py, then times each
command `--runs` times (median wall time; peak RSS of that very child via wait4) and
prints one table with the ratio to tshark. Before timing it checks that both tools
count the same MQTT PDUs, so the fast one is also the right one.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import warm_bytecode  # bench/, the folder of the script

HERE = Path(__file__).resolve().parent
FIELDS = ["-e", "frame.number", "-e", "mqtt.msgtype", "-e", "mqtt.topic"]


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run, stdout discarded."""
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        p = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}: {p.stderr.read().decode()[-400:]}")
    return wall, usage.ru_maxrss


def count_pdus(cmd: list[str]) -> tuple[int, int]:
    """(frames printed, MQTT PDUs) from a `-T fields -e frame.number -e mqtt.msgtype` run.

    The output is read line by line, never held whole: Linux carries a process's peak RSS
    across fork+exec, so a bloated parent would show up as every later child's "peak RSS".
    """
    frames = pdus = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as p:
        assert p.stdout is not None
        for line in p.stdout:
            frames += 1
            cells = line.rstrip("\n").split("\t")
            if len(cells) > 1 and cells[1]:
                pdus += len(cells[1].split(","))
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return frames, pdus


def main() -> int:
    warm_bytecode.ensure()  # time what an install runs, not a re-parse of every module
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--capture", help="use this capture instead of generating one")
    args = ap.parse_args()
    tshark = shutil.which("tshark")
    if tshark is None:
        raise SystemExit("tshark is not installed (apt-get install tshark)")

    cap = args.capture
    if cap is None:
        out_dir = HERE / "out"
        out_dir.mkdir(exist_ok=True)
        cap = str(out_dir / f"gen-{args.frames}.pcap")
        if not os.path.exists(cap):
            subprocess.run(
                [sys.executable, str(HERE / "gen_capture.py"), cap, "--frames", str(args.frames)], check=True
            )

    me = [sys.executable, "-m", "sniffer", "-r", cap]
    ts = [tshark, "-r", cap]
    check_fields = ["-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype"]
    ours = count_pdus(me + check_fields)
    theirs = count_pdus(ts + check_fields)
    agree = "yes" if ours == theirs else f"NO: mqttsniff {ours} vs tshark {theirs}"

    rows = [
        ("mqttsniff -r F (summary)", me),
        ("tshark -r F (summary)", ts),
        ("mqttsniff -r F -T fields -e ...", me + ["-T", "fields", *FIELDS]),
        ("tshark -r F -T fields -e ...", ts + ["-T", "fields", *FIELDS]),
        ("tshark -r F -Y mqtt -T fields -e ...", ts + ["-Y", "mqtt", "-T", "fields", *FIELDS]),
    ]
    results = {}
    for name, cmd in rows:
        runs = [timed(cmd) for _ in range(args.runs)]
        results[name] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs))

    frames, pdus = ours
    ref = results["tshark -r F -T fields -e ..."][0]
    print(f"# Offline dissection: {frames:,} frames, {pdus:,} MQTT PDUs ({os.path.basename(cap)})")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, ", end="")
    print(subprocess.run([tshark, "--version"], capture_output=True, text=True).stdout.splitlines()[0])
    print(f"# PDU counts agree with tshark: {agree}; median of {args.runs} runs")
    print()
    print("| command | seconds | frames/s | MQTT PDUs/s | peak RSS MB | speed vs tshark -T fields |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (wall, rss) in results.items():
        cells = [f"`{name}`", f"{wall:.2f}", f"{frames / wall:,.0f}", f"{pdus / wall:,.0f}", f"{rss / 1024:.0f}"]
        print("| " + " | ".join(cells) + f" | {ref / wall:.1f}x |")
    return 0 if ours == theirs else 1


if __name__ == "__main__":
    sys.exit(main())
