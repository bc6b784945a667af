"""Live drop point (issue 17): replay MQTT at rising rates into a veth pair and find where each capturer drops.

Run as root:  python bench/bench_knee.py [--rates 25000,50000,...,1000000,top] [--seconds 3]
                                         [--repeat 2] [--buffer-mb 32] [--capture FILE] [--json]

A generated capture (bench/gen_capture.py: many MQTT 3.1.1/5 clients, QoS 0/1/2, 1 % large payloads;
or --capture) is replayed by `tcpreplay --pps RATE` (or `--topspeed`) from inside a network namespace
through a veth pair; the capturers listen on the veth's end in this namespace, one at a time, each for
the same packets (the first RATE x SECONDS frames of the capture, a slice on tmpfs, preloaded):

- tcpdump      `tcpdump -i VETH -B KiB -w FILE 'tcp port 1883'` (FILE on tmpfs)
- headless     `mqttsniff -i VETH -B MB -f ... -w FILE > /dev/null` (summary lines dissected and thrown away)
- summary      the same without -w
- ui           `mqttsniff -i VETH -B MB -f ...` in a real terminal (tmux -L knee, 120x40); counts from its exit summary

For each run: packets offered (tcpreplay's successful sends), arrived (the veth's rx_packets), captured,
dropped by the kernel (PACKET_STATISTICS), dropped by mqttsniff's queue, missing (arrived - captured -
kernel drops: lost without being counted), how long the capturer stayed busy after the flood (its queue
of 200,000 frames, then its backlog on disk, hide a slower consumer: it catches up later instead of dropping),
the rate it sustained, its CPU per packet and the
1-minute load average. Two knees per capturer: the first rate where any run lost a packet (the issue's),
and the first where any run lost one or was more than --max-lag seconds behind. A slow run at 10,000/s
with the summary kept checks that it has as many MQTT lines as tshark finds; the UI, that its display
filter `mqtt` shows MQTT rows.

The sender and the kernel's veth receive path share the machine with the capturer: on 2 cores the
sender's top speed (170,000-275,000 packets/s here, with the load of other jobs) bounds what can be
offered. The namespace, the veth and the tmux server are removed at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import warm_bytecode  # bench/, the folder of the script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FILTER = "tcp port 1883"  # every frame of the generated capture matches it
TMUX = ["tmux", "-L", "knee"]  # our own tmux server: other users' sessions are never touched
CAPTURERS = ("tcpdump", "headless", "summary", "ui")
# Up to 1,000,000/s: where headless mqttsniff -w first drops since the capture thread hands whole ring blocks on
DEFAULT_RATES = "25000,50000,100000,200000,450000,700000,1000000,top"
# mqttsniff as found on PYTHONPATH (e.g. a compiled checkout), else this checkout's; children start in the
# work directory so that `python -m` does not put this checkout first on sys.path
SNIFFER_PATH = os.environ.get("PYTHONPATH") or str(REPO)


def sniffer_env(**extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=SNIFFER_PATH, **extra)


def die(message: str) -> None:
    sys.exit(f"bench_knee: {message}")


def run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a running process so far, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError):
        return float("nan")


def catch_up(pid: int, a: argparse.Namespace) -> float:
    """Seconds from the end of the flood until the process goes idle (less than --idle of a core over
    0.5 s): how far behind the flood its consumer was. Its queue (200,000 frames), its backlog on disk
    (sniffer.capture.backlog, up to 1 GiB) and the kernel ring let a consumer slower than the offered rate
    catch up later without a drop; a user watching a flood that lasts sees it later and later. Returns
    after --drain seconds at the earliest: tcpdump hands over a partly filled ring block only after its
    1 s timeout, and a stop before that loses the block uncounted."""
    t0 = time.monotonic()
    window: list[tuple[float, float]] = []
    idle_since: float | None = None
    while True:
        now, cpu = time.monotonic(), proc_cpu(pid)
        if cpu != cpu:  # nan: the process is gone
            return now - t0
        window.append((now, cpu))
        while len(window) > 1 and now - window[0][0] > 0.5:
            window.pop(0)
        span = now - window[0][0]
        if idle_since is None and span >= 0.45 and (cpu - window[0][1]) / span < a.idle:
            idle_since = window[0][0]  # busy until this window began
        if idle_since is not None and now - t0 >= a.drain:
            return max(0.0, idle_since - t0)
        if now - t0 > a.max_wait:
            return now - t0  # still busy: at least this far behind
        time.sleep(0.05)


def grab(pattern: str, text: str, default: int = -1) -> int:
    m = re.search(pattern, text)
    return int(m.group(1)) if m else default


# -- the network: a veth pair, one end in a namespace where tcpreplay sends ---------------------------
class Veth:
    """`ip netns add` + a veth pair; `inside` sends (in the namespace), `outside` is captured here."""

    def __init__(self) -> None:
        tag = os.getpid() % 100_000
        self.ns = f"knee{tag}"
        self.outside, self.inside = f"knee{tag}a", f"knee{tag}b"  # IFNAMSIZ: 15 characters at most
        self.made: list[str] = []

    def __enter__(self) -> Veth:
        try:
            run(["ip", "netns", "add", self.ns])
            self.made.append("ns")
            run(["ip", "link", "add", self.outside, "type", "veth", "peer", "name", self.inside])
            self.made.append("veth")
            run(["ip", "link", "set", self.inside, "netns", self.ns])
            # no IPv6: the interface then carries only the replayed frames (no router solicitations)
            for cmd in (
                ["sysctl", "-qw", f"net.ipv6.conf.{self.outside}.disable_ipv6=1"],
                ["ip", "link", "set", self.outside, "up"],
                ["ip", "netns", "exec", self.ns, "sysctl", "-qw", f"net.ipv6.conf.{self.inside}.disable_ipv6=1"],
                ["ip", "netns", "exec", self.ns, "ip", "link", "set", self.inside, "up"],
            ):
                run(cmd, check=False)
        except subprocess.CalledProcessError as exc:
            self.__exit__()
            die(f"cannot set up the veth pair: {' '.join(exc.cmd)}: {exc.stderr.strip()}")
        time.sleep(0.5)
        return self

    def __exit__(self, *_exc: object) -> None:
        if "veth" in self.made:
            run(["ip", "link", "del", self.outside], check=False)  # deletes its peer too
        if "ns" in self.made:
            run(["ip", "netns", "del", self.ns], check=False)
        self.made.clear()

    def rx_packets(self) -> int:
        return int(Path(f"/sys/class/net/{self.outside}/statistics/rx_packets").read_text())

    def replay(self, pcap: Path, rate: int | None, count: int) -> dict:
        """Send the first ``count`` frames of ``pcap`` at ``rate`` packets/s (None: top speed)."""
        pace = ["--topspeed"] if rate is None else ["--pps", str(rate)]
        if rate is not None and rate >= 50_000:
            pace += ["--pps-multi", str(rate // 10_000)]  # a burst per tick: fewer timer calls, same rate
        cmd = ["ip", "netns", "exec", self.ns, "tcpreplay", "-q", "-i", self.inside, *pace]
        out = run(cmd + ["--limit", str(count), "--preload-pcap", str(pcap)], check=False)
        text = out.stdout + out.stderr
        m = re.search(r"Actual: (\d+) packets .* sent in ([\d.]+) seconds", text)
        if out.returncode != 0 or not m:
            die(f"tcpreplay failed: {text.strip()[-400:]}")
        pps = re.search(r"([\d.]+) pps", text)
        return {
            "offered": grab(r"Successful packets:\s+(\d+)", text, int(m.group(1))),
            "failed": grab(r"Failed packets:\s+(\d+)", text, 0),
            "send_s": float(m.group(2)),
            "pps": float(pps.group(1)) if pps else float("nan"),
        }


# -- the capturers ----------------------------------------------------------------------------------
def wait_stderr(proc: subprocess.Popen, marker: bytes, timeout: float = 30) -> bytes:
    """Read the process's stderr until ``marker`` (the capture is ready)."""
    import select

    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    if marker not in seen:
        proc.kill()
        die(f"capture did not start: {seen.decode(errors='replace')[-300:]}")
    return seen


def counts_mqttsniff(text: str) -> dict:
    m = re.search(r"capture thread: ([\d.]+) us", text)
    return {
        "captured": grab(r"(\d+) packets? captured", text),
        "kernel_drop": grab(r"(\d+) packets? dropped by kernel", text),
        "queue_drop": grab(r"(\d+) packets? dropped by mqttsniff", text),
        "written": grab(r"(\d+) packets? written", text, 0),
        "thread_us": float(m.group(1)) if m else float("nan"),
    }


def run_process(kind: str, net: Veth, a: argparse.Namespace, send) -> dict:
    """tcpdump, or mqttsniff headless: start, wait until ready, flood, drain, SIGINT, read the counts."""
    out_file = Path(a.work) / f"{kind}.pcap"
    if kind == "tcpdump":
        cmd = ["tcpdump", "-i", net.outside, "-n", "-B", str(int(a.buffer_mb * 1024)), "-s", "262144"]
        cmd += ["-w", str(out_file), FILTER]
        marker = b"listening on"
        env = dict(os.environ)
    else:
        cmd = [sys.executable, "-m", "sniffer", "-i", net.outside, "-f", FILTER, "-B", f"{a.buffer_mb:g}"]
        if kind == "headless":
            cmd += ["-w", str(out_file)]
        marker = b"capturing on"
        env = sniffer_env(MQTTSNIFF_BENCH="1")  # the summary adds the capture thread's CPU per packet
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=a.work, env=env)
    try:
        err = wait_stderr(proc, marker)
        cpu0 = proc_cpu(proc.pid)
        res = send()
        res["lag_s"] = catch_up(proc.pid, a)
        proc.send_signal(signal.SIGINT)
        _, status, usage = os.wait4(proc.pid, 0)  # mqttsniff prints what it has queued, then its counts
        proc.returncode = os.waitstatus_to_exitcode(status)
        err += proc.stderr.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(FileNotFoundError):
            out_file.unlink()
    text = err.decode(errors="replace")
    if kind == "tcpdump":
        res.update(
            captured=grab(r"(\d+) packets? captured", text),
            kernel_drop=grab(r"(\d+) packets? dropped by kernel", text),
            queue_drop=0,
            written=grab(r"(\d+) packets? captured", text),
            thread_us=float("nan"),
        )
    else:
        res.update(counts_mqttsniff(text))
    res["cpu_s"] = usage.ru_utime + usage.ru_stime - cpu0  # from ready to exit: flood, drain, backlog
    res["rc"] = proc.returncode
    if res["captured"] < 0:
        res["error"] = text.strip()[-300:]
    return res


def tmux(*args: str) -> str:
    return subprocess.run([*TMUX, *args], capture_output=True, text=True).stdout


def quit_ui(sess: str, timeout: float = 90) -> None:
    """q, then y at the "Quit anyway?" question (a live capture unsaved); a busy UI may take seconds to
    show it, so answer what the screen shows rather than typing ahead."""
    deadline = time.monotonic() + timeout
    tmux("send-keys", "-t", sess, "Escape")  # leave the filter bar
    time.sleep(0.3)
    tmux("send-keys", "-t", sess, "q")
    asked = time.monotonic()
    while tmux("display-message", "-p", "-t", sess, "#{pane_dead}").strip() != "1":
        if time.monotonic() > deadline:
            die("the UI did not quit")
        if "Quit anyway?" in tmux("capture-pane", "-p", "-t", sess):
            tmux("send-keys", "-t", sess, "y")
        elif time.monotonic() - asked > 10:
            tmux("send-keys", "-t", sess, "q")  # a key lost while the UI was busy
            asked = time.monotonic()
        time.sleep(0.3)


def run_ui(net: Veth, a: argparse.Namespace, send) -> dict:
    """The UI in a real terminal: a tmux pane of our own server; its exit summary gives the counts."""
    sess = "kneeui"
    # the same environment as the headless runs (a tmux server keeps the one it started with)
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sniffer_env().items() if k in ("PYTHONPATH", "MQTTSNIFF_PURE"))
    cmd = (
        f"cd {shlex.quote(a.work)} && exec env {env} MQTTSNIFF_BENCH=1 {shlex.quote(sys.executable)} -m sniffer"
        f" -i {net.outside} -f '{FILTER}' -B {a.buffer_mb:g}"
    )
    tmux("kill-session", "-t", sess)
    # the pane stays after the UI exits (remain-on-exit), so its closing summary can be read
    tmux("new-session", "-d", "-s", sess, "-x", "120", "-y", "40", cmd)
    tmux("set-option", "-t", sess, "remain-on-exit", "on")
    try:
        deadline = time.monotonic() + 40
        while "capturing" not in tmux("capture-pane", "-p", "-t", sess):
            if time.monotonic() > deadline:
                die("the UI did not start: " + tmux("capture-pane", "-p", "-t", sess)[-300:])
            time.sleep(0.1)
        pid = int(tmux("display-message", "-p", "-t", sess, "#{pane_pid}").strip())
        cpu0 = proc_cpu(pid)
        res = send()
        res["lag_s"] = catch_up(pid, a)
        cpu1 = proc_cpu(pid)
        screen = tmux("capture-pane", "-p", "-t", sess)
        res["status"] = next((ln.strip() for ln in screen.splitlines() if "captured" in ln), "")
        # the dissector decoded the flood: with the display filter `mqtt`, the list shows MQTT rows (the last
        # rows unfiltered may all be segments of one large payload)
        tmux("send-keys", "-t", sess, "/")
        time.sleep(0.3)
        tmux("send-keys", "-t", sess, "mqtt", "Enter")
        deadline = time.monotonic() + 20
        res["mqtt_rows"] = 0
        while time.monotonic() < deadline and not res["mqtt_rows"]:
            time.sleep(0.3)
            res["mqtt_rows"] = len(re.findall(r"\sMQTT\s+\d+\s", tmux("capture-pane", "-p", "-t", sess)))
        quit_ui(sess)
        text = tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", sess)
    finally:
        tmux("kill-session", "-t", sess)
    res.update(counts_mqttsniff(text))
    res["cpu_s"] = cpu1 - cpu0  # during the flood and until caught up (10 Hz refresh included)
    if res["captured"] < 0:
        res["error"] = text.strip()[-300:]
    return res


def measure(kind: str, net: Veth, a: argparse.Namespace, pcap: Path, rate: int | None, count: int) -> dict:
    rx = [0]

    def send() -> dict:
        rx[0] = net.rx_packets()
        r = net.replay(pcap, rate, count)
        return r

    res = run_ui(net, a, send) if kind == "ui" else run_process(kind, net, a, send)
    time.sleep(0.2)
    res["arrived"] = net.rx_packets() - rx[0]
    res["load"] = os.getloadavg()[0]
    lost_counted = max(res["kernel_drop"], 0) + max(res["queue_drop"], 0)
    # what reached the interface but neither the capturer nor its drop counters: lost without a trace
    res["missing"] = max(0, res["arrived"] - res["captured"] - max(res["kernel_drop"], 0))
    res["dropped"] = lost_counted + res["missing"] if res["captured"] >= 0 else -1
    handled = max(res["captured"] - max(res["queue_drop"], 0), 0)  # frames the consumer dissected
    res["sustained_pps"] = handled / (res["send_s"] + res["lag_s"]) if res["send_s"] > 0 else float("nan")
    res["us_per_pkt"] = res["cpu_s"] / res["captured"] * 1e6 if res["captured"] > 0 else float("nan")
    return res


# -- the capture and its slices ---------------------------------------------------------------------
def frame_count(pcap: Path) -> int:
    out = run(["capinfos", "-M", "-c", str(pcap)]).stdout
    return grab(r"Number of packets:\s+(\d+)", out)


def slice_of(src: Path, frames: int, work: Path) -> Path:
    path = work / f"slice-{frames}.pcap"
    if not path.exists():
        run(["editcap", "-F", "pcap", "-r", str(src), str(path), f"1-{frames}"])
    return path


def check_decode(net: Veth, a: argparse.Namespace, pcap: Path) -> dict:
    """One slow run with the summary kept: as many MQTT lines as tshark finds in what was sent."""
    count = min(20_000, frame_count(pcap))
    small = slice_of(pcap, count, Path(a.work))
    out = Path(a.work) / "summary.txt"
    cmd = [sys.executable, "-m", "sniffer", "-i", net.outside, "-f", FILTER, "-B", f"{a.buffer_mb:g}"]
    with open(out, "wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.PIPE, cwd=a.work, env=sniffer_env())
        try:
            err = wait_stderr(proc, b"capturing on")
            net.replay(small, 10_000, count)
            time.sleep(a.drain)
            proc.send_signal(signal.SIGINT)
            err += proc.communicate(timeout=60)[1]
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.wait()
    ours = sum(1 for line in out.read_text(errors="replace").splitlines() if " MQTT " in line)
    ref = run(["tshark", "-r", str(small), "-Y", "mqtt", "-T", "fields", "-e", "frame.number"]).stdout
    theirs = len(ref.split())
    out.unlink()
    return {"frames": count, "mqtt_lines": ours, "tshark_mqtt_frames": theirs, **counts_mqttsniff(err.decode())}


# -- reporting --------------------------------------------------------------------------------------
def knees(results: list[dict], capturers: list[str], max_lag: float) -> dict:
    """Per capturer, over the rates in the order run: the first where any repeat dropped a packet (the
    knee as the issue asks: "the rate of the first drop"), the first where any repeat dropped or fell more
    than ``max_lag`` seconds behind the flood (the knee of a capture that lasts: a queue hides a slow
    consumer only for seconds), the highest offered rate below the latter (packets/s achieved, the
    slowest repeat), and the best rate the consumer sustained (frames handled / (flood + lag))."""
    out = {}
    rates = list(dict.fromkeys(r["rate"] for r in results))
    for kind in capturers:
        mine = [r for r in results if r["kind"] == kind]
        drop = keep = None
        clean = 0.0
        for rate in rates:
            runs = [r for r in mine if r["rate"] == rate]
            if drop is None and any(r["dropped"] != 0 for r in runs):
                drop = min(runs, key=lambda r: r["pps"])
            if keep is None and any(r["dropped"] != 0 or r["lag_s"] > max_lag for r in runs):
                keep = min(runs, key=lambda r: r["pps"])
            if keep is None and runs:
                clean = max(clean, min(r["pps"] for r in runs))
        out[kind] = {
            "drop_rate": drop["rate"] if drop else None,
            "drop_pps": drop["pps"] if drop else None,
            "keep_rate": keep["rate"] if keep else None,
            "keep_pps": keep["pps"] if keep else None,
            "dropped": drop is not None,
            "fell_behind": keep is not None,
            "clean_pps": clean,
            "top_pps": max((r["pps"] for r in mine), default=0.0),
            "sustained_pps": max((r["sustained_pps"] for r in mine), default=0.0),
        }
    return out


def rate_name(rate: int | None) -> str:
    return "top" if rate is None else f"{rate:,}"


HEADER = (
    f"{'#':>2} {'rate':>8} {'capturer':>8} {'offered':>8} {'pkts/s':>8} {'arrived':>8} {'captured':>8}"
    f" {'kdrop':>7} {'qdrop':>7} {'miss':>6} {'lag s':>5} {'kept/s':>7} {'µs/pkt':>6} {'ring':>5} {'load':>5}"
)


def print_row(r: dict) -> None:
    print(
        f"{r['repeat']:>2} {rate_name(r['rate']):>8} {r['kind']:>8} {r['offered']:>8} {r['pps']:>8.0f}"
        f" {r['arrived']:>8} {r['captured']:>8} {r['kernel_drop']:>7} {r['queue_drop']:>7} {r['missing']:>6}"
        f" {r['lag_s']:>5.1f} {r['sustained_pps']:>7.0f} {r['us_per_pkt']:>6.1f} {r['thread_us']:>5.2f}"
        f" {r['load']:>5.2f}"
        + (f"  MQTT rows {r['mqtt_rows']}" if "mqtt_rows" in r else "")
        + (f"  ERROR {r['error']!r}" if "error" in r else ""),
        flush=True,
    )


def main() -> int:
    warm_bytecode.ensure()  # time what an install runs, not a re-parse of every module
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default=DEFAULT_RATES, help="packets/s; 'top': --topspeed")
    ap.add_argument("--seconds", type=float, default=3.0, help="seconds of traffic per run (at the paced rates)")
    ap.add_argument("--repeat", type=int, default=2, help="passes over all rates and capturers")
    ap.add_argument("--buffer-mb", type=float, default=32.0, help="kernel buffer for every capturer (mqttsniff -B)")
    ap.add_argument("--capturers", default=",".join(CAPTURERS), help=f"any of {','.join(CAPTURERS)}")
    ap.add_argument("--capture", help="replay this capture (default: generate one with bench/gen_capture.py)")
    ap.add_argument("--drain", type=float, default=1.5, help="seconds after the flood before a capturer is stopped")
    ap.add_argument("--idle", type=float, default=0.2, help="share of a core below which a capturer is idle")
    ap.add_argument("--max-wait", type=float, default=30.0, help="seconds to wait at most for a capturer to catch up")
    ap.add_argument("--all-rates", action="store_true", help="also run a capturer at rates above one where it dropped")
    ap.add_argument("--max-lag", type=float, default=0.5, help="seconds behind the flood still counted as keeping up")
    ap.add_argument("--json", action="store_true", help="end with one 'RESULT {json}' line (for run_all.py)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        die("needs root (network namespace, veth, packet capture)")
    for t in ("ip", "tcpreplay", "tcpdump", "tmux", "editcap", "capinfos", "tshark"):
        if not shutil.which(t):
            die(f"{t} is not installed (apt-get install -y tcpreplay tcpdump tmux tshark iproute2)")
    capturers = [c for c in a.capturers.split(",") if c]
    if set(capturers) - set(CAPTURERS):
        die(f"unknown capturer(s) {','.join(set(capturers) - set(CAPTURERS))}; known: {','.join(CAPTURERS)}")
    try:
        rates: list[int | None] = [None if r == "top" else int(r) for r in a.rates.split(",")]
    except ValueError:
        die(f"bad --rates {a.rates!r}: packets/s separated by commas, or 'top'")
    paced = [r for r in rates if r is not None]
    need = int(max(paced, default=200_000) * a.seconds)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job inherits SIGINT ignored
    version = subprocess.run(
        [sys.executable, "-m", "sniffer", "--version"], capture_output=True, text=True, cwd="/", env=sniffer_env()
    ).stdout.strip()
    tmpfs = "/dev/shm" if os.path.isdir("/dev/shm") else None
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-knee-", dir=tmpfs) as work:
        a.work = work
        if a.capture:
            src = Path(a.capture)
            if not src.is_file():
                die(f"no capture file {a.capture}")
        else:
            src = Path(work) / f"gen-{need}.pcap"
            t0 = time.monotonic()
            subprocess.run(
                [sys.executable, str(HERE / "gen_capture.py"), str(src), "--frames", str(need)],
                check=True,
                stderr=subprocess.DEVNULL,
            )
            print(f"generated {need:,} frames in {time.monotonic() - t0:.0f} s", flush=True)
        have = frame_count(src)
        if have < need:
            print(f"note: {src} has {have:,} frames: runs at the top rates are shorter than {a.seconds:g} s")
        plan = {r: min(have, int(r * a.seconds)) if r is not None else min(have, need) for r in rates}
        slices = {r: slice_of(src, n, Path(work)) for r, n in plan.items()}
        try:
            with Veth() as net:
                print(f"{version}; tcpreplay into {net.inside} (netns {net.ns}) -> {net.outside}; "
                      f"buffer {a.buffer_mb:g} MB for every capturer; filter {FILTER!r}", flush=True)  # fmt: skip
                decode = check_decode(net, a, src)
                d = decode
                print(
                    f"decode check: {d['mqtt_lines']:,} MQTT summary lines from {d['frames']:,} frames sent at "
                    f"10,000/s; tshark finds {d['tshark_mqtt_frames']:,} MQTT frames",
                    flush=True,
                )
                print(HEADER, flush=True)
                for rep in range(1, a.repeat + 1):
                    done: set[str] = set()  # capturers that dropped in this pass: higher rates only drop more
                    for rate in rates:
                        for kind in capturers:
                            if kind in done:
                                continue
                            r = measure(kind, net, a, slices[rate], rate, plan[rate])
                            r.update(repeat=rep, rate=rate, kind=kind)
                            results.append(r)
                            print_row(r)
                            if r["dropped"] and not a.all_rates:
                                done.add(kind)
        finally:
            run([*TMUX, "kill-server"], check=False)
    k = knees(results, capturers, a.max_lag)
    print()
    for kind, v in k.items():
        drop = (
            f"first drop at {rate_name(v['drop_rate'])} ({v['drop_pps']:,.0f} packets/s achieved)"
            if v["dropped"]
            else f"no drop up to {v['top_pps']:,.0f} packets/s (the sender's top)"
        )
        keep = (
            f"first drop or > {a.max_lag:g} s behind at {rate_name(v['keep_rate'])} ({v['keep_pps']:,.0f}/s)"
            if v["fell_behind"]
            else "kept up at every rate"
        )
        print(
            f"knee {kind:>8}: {drop}; {keep}; clean up to {v['clean_pps']:,.0f} packets/s;"
            f" sustained at best {v['sustained_pps']:,.0f}/s"
        )
    if a.json:
        print("RESULT " + json.dumps({"version": version, "buffer_mb": a.buffer_mb, "seconds": a.seconds,
                                      "decode": decode, "runs": results, "knees": k}))  # fmt: skip
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the namespace, veth and tmux server are already gone (finally)
        sys.exit("bench_knee: interrupted")
