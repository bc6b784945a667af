"""Remote-capture benchmark: an MQTT flood through one `-i ssh://` source, against a tcpdump beside it on the gateway.

The gateway is a network namespace joined by a veth pair, running its own sshd (a host key and a client key
made for the run), a mosquitto and a reference tcpdump; flooders on this host publish paced QoS 0 PUBLISH
packets (one TCP segment each) to it across the veth, and mosquitto_sub inside the gateway makes the broker
forward each one. mqttsniff captures there over SSH and dissects headlessly (`-T fields`). The target
(issue 16): at 20,000 packets/s, 0 frames dropped by mqttsniff wherever the remote tcpdump reports 0 kernel
drops, and as many frames as the reference tcpdump saw.

Run as root:  python bench/bench_remote.py [--rate 20000] [--seconds 10]   (--quick: 2,000/s for 2 s)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
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
NS, HOST_IF, GW_IF = "mqbench-gw", "mqbenchh", "mqbenchg"
GW_ADDR, HOST_ADDR, SSH_PORT, MQTT_PORT = "10.199.77.2", "10.199.77.1", 2222, 1883

FLOODER = r"""
import socket, sys, time
host, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
cid = sys.argv[5].encode()
s = socket.create_connection((host, port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
s.sendall(bytes([0x10, len(body)]) + body)
assert s.recv(4)[:2] == b"\x20\x02"  # CONNACK
topic, payload = b"bench/remote", b"x" * 60
body = len(topic).to_bytes(2, "big") + topic + payload
msg = bytes([0x30, len(body)]) + body  # PUBLISH QoS 0
sent, start = 0, time.monotonic()
while (now := time.monotonic()) - start < seconds:
    due = int((now - start) * rate) - sent
    for _ in range(due):
        s.send(msg)
    sent += max(due, 0)
    time.sleep(0.0005)
s.sendall(b"\xe0\x00")
s.close()
print(sent)
"""


def tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        sys.exit(f"bench_remote: {name} is not installed (apt-get install openssh-server tcpdump mosquitto)")
    return path


def in_ns(*argv: str) -> list[str]:
    return ["ip", "netns", "exec", NS, *argv]


def wait_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((GW_ADDR, port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"bench_remote: nothing listens on {GW_ADDR}:{port}")
            time.sleep(0.05)


def gateway_up(work: Path) -> list[subprocess.Popen]:
    """The namespace, the veth, sshd, mosquitto and a subscriber; the processes to stop afterwards."""
    run = lambda *a: subprocess.run(a, check=True)  # noqa: E731
    run("ip", "netns", "add", NS)
    run("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", GW_IF)
    run("ip", "link", "set", GW_IF, "netns", NS)
    run("ip", "addr", "add", f"{HOST_ADDR}/24", "dev", HOST_IF)
    run("ip", "link", "set", HOST_IF, "up")
    run(*in_ns("ip", "addr", "add", f"{GW_ADDR}/24", "dev", GW_IF))
    run(*in_ns("ip", "link", "set", GW_IF, "up"))
    run(*in_ns("ip", "link", "set", "lo", "up"))
    keygen = tool("ssh-keygen")
    for name in ("host_key", "client_key"):
        run(keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(work / name))
    (work / "authorized_keys").write_text((work / "client_key.pub").read_text())
    Path("/run/sshd").mkdir(exist_ok=True)
    (work / "sshd_config").write_text(
        f"Port {SSH_PORT}\nListenAddress {GW_ADDR}\nHostKey {work / 'host_key'}\n"
        f"AuthorizedKeysFile {work / 'authorized_keys'}\nPidFile {work / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nLogLevel ERROR\n"
    )
    hostkey = (work / "host_key.pub").read_text().split()
    (work / "known_hosts").write_text(f"[{GW_ADDR}]:{SSH_PORT} {hostkey[0]} {hostkey[1]}\n")
    (work / "mosquitto.conf").write_text(
        f"listener {MQTT_PORT} {GW_ADDR}\nallow_anonymous true\npersistence false\nuser root\n"
    )
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    sshd = subprocess.Popen(in_ns(tool("sshd"), "-D", "-e", "-f", str(work / "sshd_config")), **quiet)
    broker = subprocess.Popen(in_ns(tool("mosquitto"), "-c", str(work / "mosquitto.conf")), **quiet)
    wait_port(SSH_PORT, sshd)
    wait_port(MQTT_PORT, broker)
    sub = subprocess.Popen(in_ns(tool("mosquitto_sub"), "-h", GW_ADDR, "-p", str(MQTT_PORT), "-t", "bench/#"), **quiet)
    return [sub, broker, sshd]


def gateway_down(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    pids = subprocess.run(["ip", "netns", "pids", NS], capture_output=True, text=True).stdout.split()
    for pid in pids:  # what sshd started for our sessions (the remote tcpdump, shells)
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def wait_stderr(proc: subprocess.Popen, marker: str, timeout: float = 30) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline and proc.poll() is None:
        seen += proc.stderr.readline()
    if marker not in seen:
        proc.kill()
        sys.exit(f"bench_remote: no {marker!r}: {seen}")
    return seen


def run(rate: int, seconds: float, work: Path) -> dict:
    opts = [
        f"IdentityFile={work / 'client_key'}",
        "IdentitiesOnly=yes",
        f"UserKnownHostsFile={work / 'known_hosts'}",
        "StrictHostKeyChecking=yes",
    ]
    sniff = subprocess.Popen(
        [sys.executable, "-m", "sniffer", "-i", f"ssh://root@{GW_ADDR}:{SSH_PORT}/{GW_IF}"]
        + [a for o in opts for a in ("--ssh-option", o)]
        + ["-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype", "-e", "mqtt.topic"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=dict(os.environ, MQTTSNIFF_SSH="ssh -F /dev/null"),
    )
    ref = subprocess.Popen(
        in_ns(tool("tcpdump"), "-i", GW_IF, "-n", "-s", "262144", "-B", "8192", "-w", str(work / "ref.pcap"))
        + [f"tcp port {MQTT_PORT}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = wait_stderr(sniff, "capturing on")
    ref_err = wait_stderr(ref, "listening on")
    t0 = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FLOODER, GW_ADDR, str(MQTT_PORT), str(rate / 2), str(seconds), f"flood{i}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    sent = sum(int(p.communicate(timeout=seconds + 30)[0] or 0) for p in procs)
    took = time.monotonic() - t0
    time.sleep(2.0)  # the last packets cross the SSH link
    sniff.send_signal(signal.SIGINT)
    ref.send_signal(signal.SIGINT)
    err += sniff.communicate(timeout=60)[1]
    ref_err += ref.communicate(timeout=30)[1]

    def grab(pattern: str, text: str) -> int:
        m = re.search(pattern, text)
        return int(m.group(1)) if m else -1

    return {
        "rate": rate,
        "sent": sent,
        "achieved": sent / took if took else 0.0,
        "mqttsniff": grab(r"(\d+) packets? captured", err),
        "remote_kernel_drops": grab(r"(\d+) dropped by the remote kernel", err),
        "mqttsniff_drops": grab(r"(\d+) dropped by mqttsniff", err),
        "reference": grab(r"(\d+) packets? captured", ref_err),
        "reference_drops": grab(r"(\d+) packets? dropped by kernel", ref_err),
        "stderr": err.strip(),
    }


def main() -> int:
    warm_bytecode.ensure()  # time what an install runs, not a re-parse of every module
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=20000, help="MQTT packets/s offered (two flooders)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true", help="2,000 packets/s for 2 s: does it run at all")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_remote: run as root (network namespaces, sshd)")
    if args.quick:
        args.rate, args.seconds = 2000, 2.0
    work = Path(tempfile.mkdtemp(prefix="mqttsniff-bench-remote-"))
    procs = gateway_up(work)
    try:
        r = run(args.rate, args.seconds, work)
    finally:
        gateway_down(procs)
    print(f"offered {r['rate']:,}/s for {args.seconds:g} s: {r['sent']:,} PUBLISH sent ({r['achieved']:,.0f}/s)")
    print("| | frames | kernel drops | mqttsniff drops |\n|---|---:|---:|---:|")
    print(f"| reference tcpdump on the gateway | {r['reference']:,} | {r['reference_drops']:,} | |")
    print(
        f"| mqttsniff -i ssh:// | {r['mqttsniff']:,} | {r['remote_kernel_drops']:,} (remote tcpdump)"
        f" | {r['mqttsniff_drops']:,} |"
    )
    ok = r["mqttsniff_drops"] == 0 and (r["remote_kernel_drops"] != 0 or r["mqttsniff"] >= r["reference"] > 0)
    print(f"target (0 drops where the remote tcpdump reports 0, every frame delivered): {'✓' if ok else '✗'}")
    if not ok:
        print(r["stderr"], file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
