"""The session layer's cost and its memory over many short connections.

    python bench/bench_sessions.py [--connections 100000] [--capture F ...] [--runs 3] [--topics F]

1. Memory: N short-lived MQTT connections (SYN, CONNECT, CONNACK, a QoS 1 PUBLISH and its PUBACK,
   DISCONNECT, FIN both ways), generated in memory with sniffer.synth and fed to one Dissector with
   the tracker on; every N/10 connections it prints the tracker's tables and the traced memory,
   which must stay flat (closed connections leave the tracker).
2. Cost, on each capture (default: two shapes of 200k frames from bench/gen_capture.py), runs
   interleaved, CPU seconds, the median of each ratio taken within a run; and the summary pass off
   and on measured in step, alternating every 2,000 frames in one process (paired()), the ratio
   the issue's target is judged by, since whole passes on a shared machine catch different loads:
   - the headless summary pass (`mqttsniff -r F` in-process: file, dissector, lines to /dev/null)
     with the session layer off (as before it existed; it stays off there unless asked for) and on;
   - the dissector alone, off and on, and the two passes of -2;
   - `-2` as a user runs it against the same command in one pass (`-T fields` with session fields;
     `-V` on the first 20,000 frames), CPU seconds of the child.
   - with valgrind at hand, the same passes in instructions per frame over the first 40,000 frames
     (cachegrind: exact and the same on every run, where CPU seconds on a shared machine are not).
3. `-z mqtt,topics` on --topics (the 1M-frame capture in run_all), one pass: wall, CPU, peak RSS,
   beside the plain summary pass of the same file.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_libs  # noqa: E402
import warm_bytecode  # noqa: E402  (bench/, the folder of the script)

from sniffer.cli import tune_collector  # noqa: E402
from sniffer.driver import LineSink, drive  # noqa: E402
from sniffer.net.pcapfile import open_capture  # noqa: E402
from sniffer.output.summary import ARROW_MARK, SummaryDissector  # noqa: E402
from sniffer.pipeline import Dissector, TrackingDissector  # noqa: E402
from sniffer.source import FileSource  # noqa: E402
from sniffer.synth import mqtt_encode as E  # noqa: E402
from sniffer.synth.flows import TcpFlow  # noqa: E402
from sniffer.synth.pcap_write import FrameList  # noqa: E402

ME = [sys.executable, "-m", "sniffer"]
SESSION_FIELDS = ["-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype", "-e", "mqtt.client"]
SESSION_FIELDS += ["-e", "mqtt.response_in", "-e", "mqtt.time", "-e", "mqtt.published_in"]
SHAPES = {  # name -> gen_capture.py arguments
    "200 clients, 1 % large payloads (the bench's own)": [],
    "32 clients, mostly small messages": ["--clients", "32", "--large-share", "0.004"],
}


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
            rows.append((i + 1, len(tracker.conns), len(tracker.clients), tracker.remembered(), kib))
    tracemalloc.stop()
    return rows


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _child_cpu(cmd: list[str]) -> float:
    """CPU seconds (user + system) of one child run, its output thrown away."""
    before = _cpu_children()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=str(HERE.parent))
    return _cpu_children() - before


def cost(path: str, runs: int) -> dict[str, tuple[float, float]]:
    """name -> (median CPU seconds, median ratio to its reference within a run)."""
    recs = list(open_capture(path))
    gc.collect()
    threshold = gc.get_threshold()
    tune_collector()  # the collector as mqttsniff runs (the records stay: no collection walks them)

    def summary(sessions: bool) -> float:
        with open(os.devnull, "w") as null:
            sink = LineSink(null, arrow_mark=ARROW_MARK)
            t0 = time.process_time()
            drive(FileSource(path), SummaryDissector(sessions=sessions), sink)
            sink.close()
            return time.process_time() - t0

    def dissect(d: Dissector | TrackingDissector) -> float:
        f = d.frame
        t0 = time.process_time()
        for n, (ts, data, ol, lt) in enumerate(recs, 1):
            f(n, ts, lt, data, ol)
        return time.process_time() - t0

    def two_passes() -> float:
        first = TrackingDissector(record=True)
        t = dissect(first)
        assert first.tracker is not None
        return t + dissect(Dissector(prefill=first.tracker.backfill))

    fields = [*ME, "-r", path, *SESSION_FIELDS]
    verbose = [*ME, "-r", path, "-c", "20000", "-V"]
    plan: list[tuple[str, str | None, object]] = [
        ("summary pass, session layer off", None, lambda: summary(False)),
        ("summary pass, session layer on", "summary pass, session layer off", lambda: summary(True)),
        ("dissector alone, session layer off", None, lambda: dissect(Dissector(sessions=False))),
        ("dissector alone, session layer on", "dissector alone, session layer off", lambda: dissect(Dissector())),
        ("dissector alone, the two passes of -2", "dissector alone, session layer on", two_passes),
        ("`-T fields` with session fields", None, lambda: _child_cpu(fields)),
        ("the same with -2", "`-T fields` with session fields", lambda: _child_cpu([*fields[:3], "-2", *fields[3:]])),
        ("`-V`, first 20,000 frames", None, lambda: _child_cpu(verbose)),
        ("the same with -2 ", "`-V`, first 20,000 frames", lambda: _child_cpu([*verbose[:3], "-2", *verbose[3:]])),
    ]
    secs: dict[str, list[float]] = {name: [] for name, _ref, _fn in plan}
    ratios: dict[str, list[float]] = {name: [] for name, _ref, _fn in plan}
    for _ in range(runs):
        for name, ref, fn in plan:
            s = fn()  # type: ignore[operator]
            secs[name].append(s)
            ratios[name].append(s / secs[ref][-1] if ref else 1.0)
    gc.unfreeze()
    gc.set_threshold(*threshold)
    return {name: (statistics.median(secs[name]), statistics.median(ratios[name])) for name, _r, _f in plan}


PAIRED_FIELDS = ["frame.number", "frame.time_relative", "ip.src", "mqtt.msgtype", "mqtt.topic", "mqtt.msgid"]


def paired(path: str, runs: int, chunk: int = 2000, kind: str = "summary") -> list[float]:
    """A pass with the session layer on / off, measured in step: two dissectors over the same
    records, alternating every `chunk` frames (which goes first alternates too), each chunk timed by
    the thread's CPU clock. Load from other processes on a shared machine then falls on both alike,
    where whole passes minutes apart catch different loads. One ratio per run.

    kind "summary": the summary lines (SummaryDissector); "fields": `-T fields` lines of
    PAIRED_FIELDS (a Dissector's Frames through the Printer's line), the same output either way."""
    from sniffer.output.printer import OutputOptions, Printer

    recs = list(open_capture(path))
    gc.collect()
    threshold = gc.get_threshold()
    tune_collector()  # as mqttsniff runs: start-up's objects and the records frozen, a pass every 100,000
    ratios = []
    with open(os.devnull, "w") as null:
        line = Printer(OutputOptions(fmt="fields", fields=PAIRED_FIELDS), null).line
        assert line is not None
        for _ in range(runs):
            if kind == "summary":
                pair: tuple[Any, Any] = (SummaryDissector(sessions=False), SummaryDissector(sessions=True))
            else:
                pair = (Dissector(sessions=False), Dissector(sessions=True))
            spent = [0.0, 0.0]
            for start in range(0, len(recs), chunk):
                part = recs[start : start + chunk]
                for which in (0, 1) if start // chunk % 2 == 0 else (1, 0):
                    f = pair[which].frame
                    lines = []
                    t0 = time.thread_time()
                    if kind == "summary":
                        for n, (ts, data, ol, lt) in enumerate(part, start + 1):
                            lines.append(f(n, ts, lt, data, ol))
                    else:
                        for n, (ts, data, ol, lt) in enumerate(part, start + 1):
                            lines.append(line(f(n, ts, lt, data, ol)))
                    null.write("\n".join(lines) + "\n")
                    spent[which] += time.thread_time() - t0
            ratios.append(spent[1] / spent[0])
    gc.unfreeze()
    gc.set_threshold(*threshold)
    return ratios


# One pass in a child process under cachegrind: `mode` and the frame count as arguments.
_PASS = r"""
import itertools, sys
sys.path.insert(0, sys.argv[4])
from sniffer.net.pcapfile import open_capture
path, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
from sniffer.cli import tune_collector
tune_collector()  # the collector as mqttsniff runs
if mode.startswith("summary"):
    import os
    from sniffer.driver import LineSink, drive
    from sniffer.output.summary import ARROW_MARK, SummaryDissector
    from sniffer.source import FileSource
    if mode != "summary-none":
        with open(os.devnull, "w") as null:
            sink = LineSink(null, arrow_mark=ARROW_MARK)
            drive(FileSource(path, n), SummaryDissector(sessions=mode == "summary-on"), sink)
            sink.close()
    sys.exit()
from sniffer.pipeline import Dissector, TrackingDissector
recs = list(itertools.islice(open_capture(path), n))
def run(d):
    f = d.frame
    for i, (ts, data, ol, lt) in enumerate(recs, 1):
        f(i, ts, lt, data, ol)
if mode == "off":
    run(Dissector(sessions=False))
elif mode == "on":
    run(Dissector())
elif mode == "two":
    first = TrackingDissector(record=True)
    run(first)
    run(Dissector(prefill=first.tracker.backfill))
"""


def instructions(path: str, frames: int = 40_000) -> dict[str, float] | None:
    """Instructions per frame of each pass (cachegrind), beyond loading; None without valgrind."""
    import shutil

    if shutil.which("valgrind") is None:
        return None

    def count(mode: str) -> int:
        cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
        cmd += [sys.executable, "-c", _PASS, path, mode, str(frames), str(HERE.parent)]
        err = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
        line = next(x for x in err.splitlines() if "I   refs" in x or "I refs" in x)
        return int(line.rsplit(":", 1)[1].replace(",", "").strip())

    load, sload = count("load"), count("summary-none")
    out = {}
    for name, mode, base in (
        ("summary pass, session layer off", "summary-off", sload),
        ("summary pass, session layer on", "summary-on", sload),
        ("dissector alone, session layer off", "off", load),
        ("dissector alone, session layer on", "on", load),
        ("dissector alone, the two passes of -2", "two", load),
    ):
        out[name] = (count(mode) - base) / frames
    return out


def topics(path: str) -> dict[str, tuple[float, float, int]]:
    """`-z mqtt,topics -q` in one pass beside the plain summary pass: (wall s, CPU s, peak RSS KiB)."""
    out: dict[str, tuple[float, float, int]] = {}
    for name, args in (
        ("`mqttsniff -r F` (summary)", []),
        ("`mqttsniff -r F -q -z mqtt,topics`", ["-q", "-z", "mqtt,topics"]),
    ):
        with tempfile.TemporaryFile() as sink:
            before = _cpu_children()
            wall, rss = bench_libs.measured([*ME, "-r", path, *args], sink, cwd=str(HERE.parent))
            out[name] = (wall, _cpu_children() - before, rss)
    return out


def generate(work: str, frames: int) -> dict[str, str]:
    """The default captures: one per shape."""
    paths = {}
    for i, (shape, extra) in enumerate(SHAPES.items()):
        p = os.path.join(work, f"sessions-{i}-{frames}.pcap")
        if not os.path.exists(p):
            gen = [sys.executable, str(HERE / "gen_capture.py"), "--frames", str(frames), *extra, p]
            subprocess.run(gen, check=True, capture_output=True)
        paths[shape] = p
    return paths


def main() -> None:
    warm_bytecode.ensure()  # time what an install runs, not a re-parse of every module
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--capture", action="append", help="capture for the cost part (default: two generated shapes)")
    ap.add_argument("--frames", type=int, default=200_000, help="frames of each generated capture")
    ap.add_argument("--topics", help="capture for the -z mqtt,topics part (skipped without)")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    import sniffer.native as native

    print(f"build: {native.MODE}")
    print(f"\n## Memory over {a.connections:,} short connections\n")
    print("| connections | open in tracker | client ids | publications kept | traced memory |")
    print("|---:|---:|---:|---:|---:|")
    for n, open_, cids, pubs, kib in memory(a.connections):
        print(f"| {n:,} | {open_} | {cids} | {pubs} | {kib:,} KiB |")
    caps = {p: p for p in a.capture} if a.capture else generate(tempfile.mkdtemp(), a.frames)
    for shape, path in caps.items():
        print(f"\n## Cost: {shape} (`{path}`; CPU seconds, median of {a.runs})\n")
        print("| pass | CPU s | ratio |")
        print("|---|---:|---:|")
        for name, (s, r) in cost(path, a.runs).items():
            print(f"| {name} | {s:.2f} | {r:.2f}x |")
        ratios = paired(path, a.runs)
        print(
            f"\nsummary pass on / off, in step (chunks of 2,000 frames): {statistics.median(ratios):.3f}x "
            f"(runs: {', '.join(f'{r:.3f}' for r in ratios)})"
        )
        ins = instructions(path)
        if ins is not None:
            print("\n| pass (first 40,000 frames) | instructions per frame |")
            print("|---|---:|")
            for name, v in ins.items():
                print(f"| {name} | {v:,.0f} |")
    if a.topics:
        print(f"\n## -z mqtt,topics on {a.topics}\n")
        print("| command | wall s | CPU s | peak RSS |")
        print("|---|---:|---:|---:|")
        for name, (wall, cpu, rss) in topics(a.topics).items():
            print(f"| {name} | {wall:.1f} | {cpu:.1f} | {rss / 1024:.0f} MiB |")


if __name__ == "__main__":
    main()
