"""Helpers for the live-capture tests: a real paho-mqtt scenario, tcpdump as reference, pcap reading.

Not a test module: imported by tests/test_capture_*.py.
"""

from __future__ import annotations

import itertools
import os
import select
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import require_tool

# A live test without root fails loudly (the README's test command runs as root): it never skips.
needs_root = pytest.mark.usefixtures("root")


def read_pcap(path: Path) -> list[tuple[float, bytes, int]]:
    """Frames of a classic pcap file (what tcpdump -w writes): (ts, data, orig_len)."""
    raw = path.read_bytes()
    magic = raw[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    off, out = 24, []
    while off + 16 <= len(raw):
        sec, frac, incl, orig = struct.unpack_from(endian + "IIII", raw, off)
        out.append((sec + frac * (1e-9 if nano else 1e-6), raw[off + 16 : off + 16 + incl], orig))
        off += 16 + incl
    return out


def flow_key(data: bytes) -> tuple[int, int]:
    """TCP (sport, dport) of an Ethernet/IPv4 frame (what AF_PACKET gives on lo)."""
    ihl = (data[14] & 0x0F) * 4
    return struct.unpack_from(">HH", data, 14 + ihl)


class Tcpdump:
    """tcpdump writing packet-buffered pcap on ``iface`` while the test runs: the reference capture."""

    def __init__(self, iface: str, expr: str, path: Path, extra: tuple[str, ...] = ()) -> None:
        exe = require_tool("tcpdump")
        self.path = path
        self.proc = subprocess.Popen(
            # (-B 64 MB: in immediate mode each packet takes a slot of 64 KB or more: 8 MB held 64 on lo)
            [exe, "-i", iface, "-U", "--immediate-mode", "-n", "-s", "262144", "-B", "65536", *extra]
            + ["-w", str(path), expr],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = ""
        for _ in range(5):  # "listening on lo, ..." once the filter is attached
            line += self.proc.stderr.readline()
            if "listening on" in line or self.proc.poll() is not None:
                break
        if "listening on" not in line:
            self.proc.kill()
            pytest.fail(f"tcpdump did not start: {line}{self.proc.stderr.read()}")
        self.stderr = ""

    def stop(self) -> list[tuple[float, bytes, int]]:
        self.proc.send_signal(signal.SIGINT)
        _, self.stderr = self.proc.communicate(timeout=10)
        return read_pcap(self.path)


def capture_scenario(work: Path, **options) -> dict:
    """run_scenario() against a broker of its own, captured at the same time by LiveCapture (writing
    work/ours.pcapng; `options` go to LiveCapture) and by tcpdump. The consumer reads nothing until
    the scenario is over and the capture stopped."""
    from conftest import start_broker

    from sniffer.capture import LiveCapture

    with start_broker(work) as broker:
        expr = f"tcp port {broker.port}"
        ref = Tcpdump("lo", expr, work / "ref.pcap")
        cap = LiveCapture("lo", expr, write_path=str(work / "ours.pcapng"), **options)
        cap.open()
        cap.start()
        try:
            observed = run_scenario(broker.port)
            time.sleep(0.5)  # let the last FIN/ACKs and the last block reach both
            waiting = cap.waiting()
        finally:
            stopped_at = time.time()  # tcpdump stops after us: what it sees later is not ours to see
            cap.stop()
            ref_frames = ref.stop()
        frames = [f for batch in cap.batches() for f in batch]
    return {
        "port": broker.port,
        "frames": frames,
        "waiting": waiting,
        "ref": [f for f in ref_frames if f[0] < stopped_at],
        "stats": cap.stats,
        "summary": cap.summary(),
        "mode": cap.mode,
        "file": work / "ours.pcapng",
        "ref_file": work / "ref.pcap",
        "observed": observed,
        "tcpdump_stderr": ref.stderr,
    }


def packets(n: int) -> str:
    """ "1 packet", "2 packets": how mqttsniff's summary counts (a slow machine may catch a single one)."""
    return f"{n} packet{'' if n == 1 else 's'}"


def tshark_fields(tshark: str, path: Path, port: int, fields: list[str]) -> list[str]:
    cmd = [tshark, "-r", str(path), "-d", f"tcp.port=={port},mqtt", "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


# -- the MQTT scenario -----------------------------------------------------------------------------


def _wait(cond, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class _Client:
    def __init__(self, port: int, cid: str, v5: bool, keepalive: int = 60) -> None:
        import paho.mqtt.client as mqtt

        self.mqtt = mqtt
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=proto)
        self.got: list[tuple[str, int, int, bool]] = []
        self.acks: set[int] = set()
        self.log: list[str] = []  # paho's debug lines: "Received PINGRESP" says a keepalive round trip is done
        self.c.on_log = lambda _c, _u, _level, line: self.log.append(line)
        self.c.on_message = lambda _c, _u, m: self.got.append((m.topic, len(m.payload), m.qos, bool(m.retain)))
        self.c.on_subscribe = lambda _c, _u, mid, *_: self.acks.add(mid)
        self.c.on_unsubscribe = lambda _c, _u, mid, *_: self.acks.add(mid)
        self.c.connect("127.0.0.1", port, keepalive=keepalive)
        self.c.loop_start()
        _wait(self.c.is_connected, what=f"{cid} CONNACK")

    def subscribe(self, topics) -> None:
        _, mid = self.c.subscribe(topics)
        _wait(lambda: mid in self.acks, what="SUBACK")

    def unsubscribe(self, topic: str) -> None:
        _, mid = self.c.unsubscribe(topic)
        _wait(lambda: mid in self.acks, what="UNSUBACK")

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False, props=None) -> None:
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=props)
        info.wait_for_publish(10)

    def disconnect(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def run_scenario(port: int) -> dict:
    """Real clients doing every MQTT exchange the capture must show; returns what they observed.

    A: MQTT 3.1.1 with a 1 s keepalive (PINGREQ), B: MQTT 5.0, at the same time; QoS 0/1/2 with acks,
    retained, wildcards, UNSUBSCRIBE, a 300 KB payload, and a mosquitto_sub killed without DISCONNECT.
    """
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    a = _Client(port, "client-a", v5=False, keepalive=1)
    b = _Client(port, "client-b", v5=True)
    a.subscribe([("t/#", 2), ("s/+/x", 1)])
    b.subscribe([("t/+", 1)])
    a.publish("r/keep", b"retained", qos=1, retain=True)
    # Both clients publish at once from two threads.
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("k", "v")
    big = os.urandom(300 * 1024)
    tb = threading.Thread(target=lambda: (b.publish("s/a/x", b"five", 2, props=props), b.publish("t/big", big, 1)))
    tb.start()
    for qos in (0, 1, 2):
        a.publish(f"t/q{qos}", f"qos{qos}".encode(), qos)
    tb.join()
    b.subscribe([("r/#", 1)])  # the retained message comes back with its retain flag
    _wait(lambda: len(a.got) >= 5 and len(b.got) >= 5, what="deliveries")
    # A idles past its keepalive: PINGREQ / PINGRESP. paho checks its keepalive once a second, so the
    # PINGREQ leaves 1 to 2 s after A's last packet: a fixed 2.2 s wait raced it on a loaded machine
    # (then the UNSUBSCRIBE below reset the keepalive and the capture had no PINGREQ at all)
    _wait(lambda: "Received PINGRESP" in a.log, timeout=15, what="client-a's PINGREQ / PINGRESP")
    a.unsubscribe("s/+/x")
    # mosquitto_sub's debug lines (-d) say when its SUBACK came; stdbuf makes them arrive line by line.
    killed = subprocess.Popen(
        [require_tool("stdbuf"), "-oL", require_tool("mosquitto_sub")]
        + ["-p", str(port), "-h", "127.0.0.1", "-t", "k/#", "-i", "killed", "-d"],
        stdout=subprocess.PIPE,
    )
    seen = b""
    deadline = time.monotonic() + 10
    while b"SUBACK" not in seen:
        ready, _, _ = select.select([killed.stdout], [], [], 0.5)
        if ready:
            seen += os.read(killed.stdout.fileno(), 4096)
        if time.monotonic() > deadline:
            killed.kill()
            raise AssertionError(f"mosquitto_sub never got its SUBACK: {seen!r}")
    killed.kill()  # no DISCONNECT: the broker sees the connection drop
    killed.wait()
    b.publish("r/keep", b"", qos=0, retain=True)  # clear the retained message
    a.disconnect()
    b.disconnect()
    return {"a": a.got, "b": b.got, "big": len(big)}


_TMUX_SERVERS = itertools.count()


class Tmux:
    """A tmux server of the test's own (-L) with one session running ``cmd`` (110x36, xterm-256color).
    `forbid`: texts the screen must never show while a test waits on it (a traceback, say)."""

    def __init__(self, cmd: str, name: str = "mqttsniff", forbid: tuple[str, ...] = ()) -> None:
        self.exe = require_tool("tmux")
        # A socket of its own per instance: `kill-server` returns before the old server has gone, and a
        # new session on the same socket then lands on the dying server ("server exited unexpectedly",
        # an empty screen for the whole wait): on a loaded machine CI's next test did.
        self.sock = f"{name}-{os.getpid()}-{next(_TMUX_SERVERS)}"
        self.forbid = forbid
        env = {**os.environ, "TERM": "xterm-256color"}
        new = [self.exe, "-L", self.sock, "new-session", "-d", "-s", "t", "-x", "110", "-y", "36", cmd]
        res = subprocess.run(new, capture_output=True, text=True, env=env)
        if res.returncode != 0:
            pytest.fail(f"tmux did not start {cmd!r}: {res.stderr.strip()}")

    def tmux(self, *args: str) -> str:
        env = {**os.environ, "TERM": "xterm-256color"}
        return subprocess.run([self.exe, "-L", self.sock, *args], capture_output=True, text=True, env=env).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def pane(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", "t", fmt).strip()

    def wait_for(self, predicate, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < end:
            screen = self.screen()
            for bad in self.forbid:
                assert bad not in screen, screen
            if predicate(screen):
                if self.forbid:  # a traceback taller than the terminal has its first line scrolled off
                    whole = self.history()
                    for bad in self.forbid:
                        assert bad not in whole, whole
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out; the terminal shows:\n{screen}")

    def history(self) -> str:
        """The screen with what scrolled off it (the normal screen's: a UI's alternate screen keeps none)."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-2000", "-t", "t")

    def close(self) -> None:
        self.tmux("kill-server")


def start_tcpdump(
    iface: str, path: Path, expr: str, netns: str | None = None, immediate: bool = False
) -> subprocess.Popen:
    """tcpdump writing `iface`'s frames matching `expr` to `path` (in network namespace `netns`), returned
    once it says it is listening. `immediate`: else the kernel may hold the last packets (up to a second)
    in a buffer block that a SIGTERM right after the traffic leaves unwritten (a flood may then drop some)."""
    inside = [require_tool("ip"), "netns", "exec", netns] if netns else []
    mode = ["--immediate-mode", "-B", "65536"] if immediate else []  # (a slot of 64 KB a packet: room for 1024)
    cmd = [*inside, require_tool("tcpdump"), "-i", iface, *mode, "-U", "-w", str(path), expr]
    cap = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while b"listening" not in (cap.stderr.read1(200) if cap.stderr else b""):
        assert time.monotonic() < deadline, "tcpdump did not start"
    return cap


def run_ok(*cmd: str) -> None:
    """Run a set-up command (ip, nft, sysctl); its failure fails the test."""
    subprocess.run(cmd, check=True, capture_output=True)


def stop_all(procs: list[subprocess.Popen]) -> None:
    """Terminate the processes still running and wait for each."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(10)


def broker_in_netns(ns: str, work: Path) -> subprocess.Popen:
    """mosquitto listening on 1883 on every address of network namespace `ns` (anonymous, no persistence)."""
    conf = work / f"{ns}.conf"
    conf.write_text("listener 1883 0.0.0.0\nallow_anonymous true\npersistence false\nuser root\n")
    cmd = [require_tool("ip"), "netns", "exec", ns, require_tool("mosquitto"), "-c", str(conf)]
    return subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
