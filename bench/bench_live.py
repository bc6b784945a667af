"""Live-capture benchmark: flood a local mosquitto at rising rates, capture with mqttsniff, tcpdump and
tshark at the same time, and print side by side the packets each saw and the kernel's drops, plus
mqttsniff's CPU time per packet: µs/pkt for the whole process (ring, dissector and printer, via
wait4's rusage, start-up subtracted) and "ring" for the capture thread alone (thread_time).

Run as root:  python bench/bench_live.py [--rates 5000,10000,20000,40000] [--seconds 5]

The flood is two MQTT clients sending paced QoS 0 PUBLISH packets (one TCP segment each) to a real
mosquitto, with a `mosquitto_sub` subscribed so the broker forwards every message: real MQTT on lo.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import warm_bytecode  # bench/, the folder of the script

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        sys.exit(f"bench_live: {name} is not installed")
    return path


def wait_for(proc: subprocess.Popen, marker: bytes, timeout: float = 20) -> bytes:
    """Read the process's stderr until ``marker`` (the capture is ready); returns what was read."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        if time.monotonic() > deadline:
            break
    if marker not in seen:
        proc.kill()
        sys.exit(f"bench_live: capture did not start: {seen.decode(errors='replace')}")
    return seen


FLOODER = r"""
import socket, sys, time
port, rate, seconds, cid = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4].encode()
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
s.sendall(bytes([0x10, len(body)]) + body)
assert s.recv(4)[:2] == b"\x20\x02"  # CONNACK
topic, payload = b"bench/load", b"x" * 60
body = len(topic).to_bytes(2, "big") + topic + payload
msg = bytes([0x30, len(body)]) + body  # PUBLISH QoS 0
sent, start = 0, time.monotonic()
while (now := time.monotonic()) - start < seconds:
    due = int((now - start) * rate) - sent
    for _ in range(due):
        s.send(msg)  # one send per message: one TCP segment each (TCP_NODELAY)
    sent += max(due, 0)
    time.sleep(0.0005)
s.sendall(b"\xe0\x00")  # DISCONNECT
s.close()
print(sent)
"""


def flood(port: int, rate: int, seconds: float, publishers: int = 2) -> int:
    """Publish ~rate messages/s in total for ``seconds`` from several MQTT clients; returns messages sent.

    Each client is a separate process sending pre-encoded PUBLISH packets, one send() each with
    TCP_NODELAY, so every message is a TCP segment (mosquitto_pub -l coalesces them).
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FLOODER, str(port), str(rate / publishers), str(seconds), f"flood{i}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(publishers)
    ]
    return sum(int(p.communicate(timeout=seconds + 30)[0] or 0) for p in procs)


def run_rate(port: int, rate: int, seconds: float, work: Path) -> dict:
    expr = f"tcp port {port}"
    sniff = subprocess.Popen(
        [sys.executable, "-m", "sniffer", "-i", "lo", "-f", expr, "-T", "fields", "-e", "frame.number"]
        + ["-e", "mqtt.msgtype", "-e", "mqtt.topic"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=dict(os.environ, MQTTSNIFF_BENCH="1"),  # the summary adds the capture thread's own CPU
    )
    tcpd = subprocess.Popen(
        [tool("tcpdump"), "-i", "lo", "-n", "-s", "262144", "-w", str(work / "tcpdump.pcap"), expr],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    tsh = subprocess.Popen(
        [tool("tshark"), "-i", "lo", "-f", expr, "-w", str(work / "tshark.pcapng")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    err = {
        "mqttsniff": wait_for(sniff, b"capturing on"),
        "tcpdump": wait_for(tcpd, b"listening on"),
        "tshark": wait_for(tsh, b"Capturing on"),
    }
    sent = flood(port, rate, seconds)
    time.sleep(1.5)  # the last blocks leave the rings
    for p in (sniff, tcpd, tsh):
        p.send_signal(signal.SIGINT)
    _, status, usage = os.wait4(sniff.pid, 0)
    sniff.returncode = os.waitstatus_to_exitcode(status)
    err["mqttsniff"] += sniff.stderr.read()
    err["tcpdump"] += tcpd.communicate(timeout=30)[1]
    err["tshark"] += tsh.communicate(timeout=30)[1]
    text = {k: v.decode(errors="replace") for k, v in err.items()}

    def grab(pattern: str, s: str) -> int:
        m = re.search(pattern, s)
        return int(m.group(1)) if m else 0

    res = {
        "rate": rate,
        "sent": sent,
        "mqttsniff": grab(r"(\d+) packets? captured", text["mqttsniff"]),
        "mqttsniff_drop": grab(r"(\d+) packets? dropped by kernel", text["mqttsniff"]),
        "mqttsniff_qdrop": grab(r"(\d+) packets? dropped by mqttsniff", text["mqttsniff"]),
        "tcpdump": grab(r"(\d+) packets? captured", text["tcpdump"]),
        "tcpdump_drop": grab(r"(\d+) packets? dropped by kernel", text["tcpdump"]),
        "tshark": grab(r"(\d+) packets? captured", text["tshark"]),
        "tshark_drop": grab(r"(\d+) packets? dropped", text["tshark"]),
        "cpu": usage.ru_utime + usage.ru_stime,
        "thread_us": float(m.group(1)) if (m := re.search(r"capture thread: ([\d.]+) us", text["mqttsniff"])) else 0.0,
    }
    return res


def idle_cpu(port: int) -> float:
    """CPU seconds mqttsniff spends starting, idling 1 s and stopping, with no traffic: subtracted."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sniffer", "-i", "lo", "-f", f"tcp port {port}", "-a", "duration:1", "-T", "fields"]
        + ["-e", "frame.number"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    warm_bytecode.ensure()  # time what an install runs, not a re-parse of every module
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="2000,10000,20000,30000", help="PUBLISH messages/s to attempt")
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_live: live capture needs root")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        work = Path(tmp)
        port = free_port()
        conf = work / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n")
        broker = subprocess.Popen([tool("mosquitto"), "-c", str(conf)], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        sub = subprocess.Popen(
            [tool("mosquitto_sub"), "-p", str(port), "-h", "127.0.0.1", "-t", "bench/#"], stdout=subprocess.DEVNULL
        )
        time.sleep(0.3)
        base = idle_cpu(free_port())
        print(f"mqttsniff start-up + 1 s idle costs {base * 1000:.0f} ms of CPU (subtracted below)")
        print(
            f"{'msgs/s':>7} {'sent':>7} {'pkts/s':>7} | {'mqttsniff':>9} {'kdrop':>6} {'qdrop':>6} {'µs/pkt':>6}"
            f" {'ring':>5} |"
            f" {'tcpdump':>8} {'kdrop':>6} | {'tshark':>8} {'drop':>6}"
        )
        try:
            for rate in [int(r) for r in args.rates.split(",")]:
                r = run_rate(port, rate, args.seconds, work)
                r["us_per_pkt"] = (r["cpu"] - base) / r["mqttsniff"] * 1e6 if r["mqttsniff"] else float("nan")
                pps = max(r["mqttsniff"], r["tcpdump"], r["tshark"]) / args.seconds
                print(
                    f"{r['rate']:>7} {r['sent']:>7} {pps:>7.0f} | {r['mqttsniff']:>9} {r['mqttsniff_drop']:>6}"
                    f" {r['mqttsniff_qdrop']:>6} {r['us_per_pkt']:>6.1f}"
                    f" {r['thread_us']:>5.2f} | {r['tcpdump']:>8} {r['tcpdump_drop']:>6} |"
                    f" {r['tshark']:>8} {r['tshark_drop']:>6}",
                    flush=True,
                )
        finally:
            sub.terminate()
            broker.terminate()
            sub.wait(10)
            broker.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
