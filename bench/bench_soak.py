"""Soak benchmark: the UI capturing live for a long time at a steady rate; its memory and disk over time.

Run as root:  python bench/bench_soak.py [--minutes 30] [--rate 1000] [--every 30] [-- EXTRA MQTTSNIFF ARGS]

A real mosquitto on a free port, two MQTT clients publishing paced QoS 0 messages (bench_live's flooder:
one TCP segment per message) and a subscriber, so the broker forwards each one: ~2 packets per message
on lo. mqttsniff runs with its UI in a real terminal (tmux, its own server), capturing on lo with the
broker's port as capture filter. Every --every seconds the bench reads, from /proc, the UI process's
resident memory and the size of its spill file (the packet store's unlinked temporary file), the size
of the -w file(s) if the extra arguments write one, and from the status bar the packets captured and
dropped. It prints one row per sample and, at the end, what each packet costs in RAM and on disk
(the slope between the first and last sample), so growth shows as a straight line and a bounded mode
as a flat one. Extra arguments after `--` go to mqttsniff (e.g. `-- -w /tmp/soak.pcapng -b filesize:10000 -b files:3`).

Not a test: it measures, it does not judge.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import warm_bytecode  # noqa: E402  (bench/, the folder of the script)
from bench_live import FLOODER, free_port, tool  # noqa: E402

REPO = HERE.parent
TMUX = ["tmux", "-L", "mqttsniff-soak"]


def pane_pid() -> int:
    out = subprocess.run([*TMUX, "list-panes", "-F", "#{pane_pid}"], capture_output=True, text=True).stdout
    return int(out.split()[0])


def sniffer_pid(shell_pid: int) -> int:
    """The python process of mqttsniff: the pane's process itself, or its child."""
    for pid in [shell_pid, *map(int, Path(f"/proc/{shell_pid}/task/{shell_pid}/children").read_text().split())]:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"sniffer" in cmd:
            return pid
    raise RuntimeError("bench_soak: mqttsniff is not running in the tmux pane")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def spill_bytes(pid: int) -> int:
    """Size of the packet store's spill file(s): unlinked temporary files (O_TMPFILE on Linux: no name,
    "/tmp/#123 (deleted)"), so only /proc/PID/fd still shows them."""
    total = 0
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        try:
            link = os.readlink(fd)
            if link.startswith(tempfile.gettempdir()) and link.endswith("(deleted)"):
                total += os.stat(fd).st_size
        except OSError:
            continue
    return total


def status_counts() -> tuple[int, int]:
    """(captured, dropped) from the UI's status bar."""
    screen = subprocess.run([*TMUX, "capture-pane", "-p"], capture_output=True, text=True).stdout
    cap = re.search(r"captured ([\d,]+)", screen)
    drop = re.search(r"dropped ([\d,]+)", screen)
    num = lambda m: int(m.group(1).replace(",", "")) if m else -1  # noqa: E731
    return num(cap), num(drop)


def written_bytes(extra: list[str]) -> int:
    """Bytes of the -w file and, with a ring buffer, of its numbered siblings."""
    if "-w" not in extra:
        return 0
    path = Path(extra[extra.index("-w") + 1])
    files = set(glob.glob(f"{path.parent / path.stem}_*{path.suffix}")) | ({str(path)} if path.exists() else set())
    return sum(os.path.getsize(f) for f in files if os.path.exists(f))


def main() -> int:
    warm_bytecode.ensure()  # time what an install runs, not a re-parse of every module
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=int, default=1000, help="messages per second published (in total)")
    ap.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    ap.add_argument("extra", nargs="*", help="arguments for mqttsniff, after --")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_soak: run as root (live capture on lo)")
    for name in ("mosquitto", "tmux"):
        tool(name)
    seconds = args.minutes * 60
    work = Path(tempfile.mkdtemp(prefix="mqttsniff-soak-"))
    port = free_port()
    conf = work / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs: list[subprocess.Popen] = []
    try:
        time.sleep(0.5)
        sub = subprocess.Popen([tool("mosquitto_sub"), "-p", str(port), "-t", "bench/#"], stdout=subprocess.DEVNULL)
        procs.append(sub)
        cmd = [sys.executable, "-m", "sniffer", "-i", "lo", "-f", f"tcp port {port}", *args.extra]
        subprocess.run([*TMUX, "kill-server"], capture_output=True)
        subprocess.run(
            [
                *TMUX,
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "40",
                f"cd {shlex.quote(str(REPO))} && exec {shlex.join(cmd)}",
            ],
            check=True,
        )
        time.sleep(4)  # the UI up and capturing
        pid = sniffer_pid(pane_pid())
        for i in range(2):  # two publishers share the rate
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", FLOODER, str(port), str(args.rate / 2), str(seconds), f"soak{i}"],
                    stdout=subprocess.DEVNULL,
                )
            )
        print(f"mqttsniff {' '.join(args.extra) or '(no extra arguments)'}: {args.rate} msg/s for {args.minutes:g} min")
        print(f"{'t (s)':>7} {'captured':>11} {'dropped':>8} {'RSS MB':>8} {'spill MB':>9} {'-w MB':>7} {'load':>5}")
        samples = []
        t0 = time.monotonic()
        while True:
            t = time.monotonic() - t0
            cap, drop = status_counts()
            row = (t, cap, drop, rss_bytes(pid), spill_bytes(pid), written_bytes(args.extra))
            samples.append(row)
            load = os.getloadavg()[0]
            mb = [v / 1e6 for v in row[3:]]
            print(f"{t:7.0f} {cap:11,} {drop:8,} {mb[0]:8.1f} {mb[1]:9.1f} {mb[2]:7.1f} {load:5.2f}", flush=True)
            if t >= seconds:
                break
            time.sleep(min(args.every, max(seconds - t, 0.1)))
        first = next((s for s in samples if s[1] > 0), samples[0])
        last = samples[-1]
        pkts = last[1] - first[1]
        if pkts > 0:
            print(f"per packet over the last {pkts:,} packets: RSS {(last[3] - first[3]) / pkts:.0f} B, "
                  f"spill {(last[4] - first[4]) / pkts:.0f} B, -w {(last[5] - first[5]) / pkts:.0f} B")  # fmt: skip
        return 0
    finally:
        subprocess.run([*TMUX, "send-keys", "q"], capture_output=True)
        time.sleep(1)
        subprocess.run([*TMUX, "kill-server"], capture_output=True)
        for p in procs:
            p.kill()
        broker.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
