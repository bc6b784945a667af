"""Remote capture over SSH (`-i ssh://host/IFACE`) against real gateways: network namespaces with sshd and mosquitto.

Each "gateway" is a network namespace joined to this host by a veth pair; inside it run an OpenSSH
server (Debian's openssh-server, started by the test on its own sshd_config, host key and a client key
made for the test; no system service), a mosquitto broker and, beside mqttsniff's remote tcpdump, a
reference tcpdump. paho clients on this host publish to the gateway's broker across the veth, the same
link the SSH session uses, so a capture filter of plain `tcp` would show the session if mqttsniff did
not exclude it. Frames are compared per direction with the reference, as tests/test_capture_live.py does.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from capture_helpers import needs_root
from conftest import REPO, require_tool

pytestmark = needs_root

TAG = os.getpid() % 10000
NET = 200 + os.getpid() % 50  # 10.NET.N.0/24 per gateway, apart from other test runs
SSH_PORT = 2222
FIELDS = ["frame.interface_name", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.len"]


class Gateway:
    """Network namespace + veth + sshd + mosquitto: a host reachable only over SSH and MQTT."""

    def __init__(self, n: int, keys: Path) -> None:
        self.n = n
        self.ns = f"mqr{TAG}g{n}"
        self.host_if, self.gw_if = f"mqr{TAG}h{n}", f"mqr{TAG}g{n}"
        self.addr, self.host_addr = f"10.{NET}.{n}.2", f"10.{NET}.{n}.1"
        self.keys = keys
        self.dir = keys / f"gw{n}"
        self.dir.mkdir()
        self.sshd: subprocess.Popen | None = None
        self.broker: subprocess.Popen | None = None

    def run(self, *argv: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns, *argv], check=True, capture_output=True, **kw)

    def up(self) -> None:
        ip = require_tool("ip")
        subprocess.run([ip, "netns", "add", self.ns], check=True)
        subprocess.run([ip, "link", "add", self.host_if, "type", "veth", "peer", "name", self.gw_if], check=True)
        subprocess.run([ip, "link", "set", self.gw_if, "netns", self.ns], check=True)
        subprocess.run([ip, "addr", "add", f"{self.host_addr}/24", "dev", self.host_if], check=True)
        subprocess.run([ip, "link", "set", self.host_if, "up"], check=True)
        self.run(ip, "addr", "add", f"{self.addr}/24", "dev", self.gw_if)
        self.run(ip, "link", "set", self.gw_if, "up")
        self.run(ip, "link", "set", "lo", "up")
        conf = self.dir / "mosquitto.conf"
        conf.write_text(f"listener 1883 {self.addr}\nallow_anonymous true\npersistence false\nuser root\n")
        self.broker = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, require_tool("mosquitto"), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.start_sshd()
        wait_port(self.addr, 1883, self.broker)

    def start_sshd(self) -> None:
        sshd = "/usr/sbin/sshd"
        if not os.path.exists(sshd):
            pytest.fail("sshd is not installed: run the README's test command (it apt-get installs openssh-server)")
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        cfg = self.dir / "sshd_config"
        cfg.write_text(
            f"Port {SSH_PORT}\nListenAddress {self.addr}\nHostKey {self.keys / 'host_key'}\n"
            f"AuthorizedKeysFile {self.keys / 'authorized_keys'}\nPidFile {self.dir / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nLogLevel ERROR\n"
        )
        self.sshd = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sshd, "-D", "-e", "-f", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.addr, SSH_PORT, self.sshd)

    def url(self, iface: str | None = None) -> str:
        return f"ssh://root@{self.addr}:{SSH_PORT}/{iface or self.gw_if}"

    def name(self) -> str:
        return f"{self.addr}:{self.gw_if}"

    def pids(self, comm: str) -> list[int]:
        """Processes named comm in this namespace (all started by this test, through sshd or directly)."""
        out = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True).stdout.split()
        found = []
        for pid in out:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                    found.append(int(pid))
            except OSError:
                pass
        return found

    def down(self) -> None:
        for proc in (self.sshd, self.broker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        for pid in self.pids("sshd") + self.pids("tcpdump"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


def wait_port(addr: str, port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((addr, port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nothing listens on {addr}:{port} (exit code {proc.poll()})")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ssh")
    keygen = require_tool("ssh-keygen")
    require_tool("ssh")
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    return d


@pytest.fixture(scope="module")
def gateways(keys):
    gws = [Gateway(1, keys), Gateway(2, keys)]
    hostkey = (keys / "host_key.pub").read_text().split()
    try:
        for gw in gws:
            gw.up()
        # a real known-hosts check (StrictHostKeyChecking=yes): the test's host key, nothing accepted blindly
        (keys / "known_hosts").write_text("".join(f"[{gw.addr}]:{SSH_PORT} {hostkey[0]} {hostkey[1]}\n" for gw in gws))
        yield gws
    finally:
        for gw in gws:
            gw.down()


def ssh_options(keys: Path, known_hosts: str = "known_hosts") -> list[str]:
    opts = {
        "IdentityFile": keys / "client_key",
        "IdentitiesOnly": "yes",
        "UserKnownHostsFile": keys / known_hosts,
        "StrictHostKeyChecking": "yes",
        "LogLevel": "ERROR",
    }
    return [a for k, v in opts.items() for a in ("--ssh-option", f"{k}={v}")]


def env() -> dict[str, str]:
    e = dict(os.environ, MQTTSNIFF_SSH="ssh -F /dev/null")  # not the developer's ~/.ssh/config
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    return e


class Sniffer:
    """mqttsniff started headless; stderr collected by a thread; wait() for a line."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sniffer", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait(self, text: str, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in ln for ln in self.lines) < count:
            if time.monotonic() > deadline or (self.proc.poll() is not None and not self._t.is_alive()):
                pytest.fail(f"no {count} x {text!r} from mqttsniff; stderr: {self.lines}")
            time.sleep(0.05)

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        out = self.proc.stdout.read()  # stderr is the thread's: communicate() would race it
        self.proc.wait(30)
        self._t.join(5)
        return self.proc.returncode, out


class Reference:
    """tcpdump inside the gateway, beside mqttsniff's remote one: the frames that were on the wire."""

    def __init__(self, gw: Gateway, path: Path) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", gw.ns, require_tool("tcpdump"), "-i", gw.gw_if, "-U", "--immediate-mode"]
            + ["-n", "-s", "262144", "-B", "65536", "-w", str(path), "tcp port 1883"],  # (-B: 1024 slots, not 32)
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stderr.readline()
        if "listening on" not in line:
            pytest.fail(f"reference tcpdump did not start: {line}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=10)


def publish(gw: Gateway, n: int = 20, tag: str = "") -> None:
    """A paho client on this host: connect to the gateway's broker, n QoS 1 publishes, disconnect."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"remote-test-{gw.n}{tag}")
    c.connect(gw.addr, 1883)
    c.loop_start()
    for i in range(n):
        c.publish(f"gw{gw.n}/sensor/{tag}{i}", f"{i}" * 10, qos=1).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


def tshark_rows(path: Path, extra: list[str] = ()) -> list[tuple[str, ...]]:
    cmd = [require_tool("tshark"), "-r", str(path), *extra, "-T", "fields"]
    for f in FIELDS:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return [tuple(line.split("\t")) for line in res.stdout.splitlines()]


def per_direction(rows, name: str | None = None) -> dict[tuple[str, str], list[tuple[str, ...]]]:
    """(sport, dport) -> the frames' (seq, ack, len) in order; rows of one interface when name is given."""
    out: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    for iface, sport, dport, *rest in rows:
        if name is None or iface == name:
            out.setdefault((sport, dport), []).append(tuple(rest))
    return out


def test_one_gateway_equals_tcpdump_beside_it_without_the_ssh_session(gateways, keys, tmp_path):
    gw = gateways[0]
    ref = Reference(gw, tmp_path / "ref.pcap")
    out = tmp_path / "remote.pcapng"
    sn = Sniffer(
        ["-i", gw.url(), "-f", "tcp", *ssh_options(keys), "-w", str(out), "-T", "fields"]
        + [a for f in FIELDS for a in ("-e", f)]
    )
    sn.wait("capturing on")
    publish(gw)
    time.sleep(1.0)
    code, stdout = sn.stop()
    ref.stop()
    assert code == 0, sn.lines
    assert gw.pids("tcpdump") == [], "the remote tcpdump was left running on the gateway"
    ours = [tuple(line.split("\t")) for line in stdout.splitlines()]
    assert ours, sn.lines
    assert {r[0] for r in ours} == {gw.name()}
    assert not [r for r in ours if str(SSH_PORT) in (r[1], r[2])], "the SSH session's own packets were captured"
    reference = per_direction(tshark_rows(ref.path), None)
    got = per_direction(ours)
    for key in reference:  # the counts first: a shortfall names itself (the remote tcpdump's drops are in the lines)
        assert len(got.get(key, [])) == len(reference[key]), (key, sn.lines)
    assert got == reference
    # the -w file: what tshark reads there is the same, under the remote interface's name
    assert per_direction(tshark_rows(out), gw.name()) == reference
    assert any(ln.startswith(f"{gw.name()}: {len(ours)} packets captured") for ln in sn.lines), sn.lines
    assert any("clock offset" in ln for ln in sn.lines), sn.lines


def test_two_gateways_merged_by_time_with_one_idb_each(gateways, keys, tmp_path):
    refs = [Reference(gw, tmp_path / f"ref{gw.n}.pcap") for gw in gateways]
    out = tmp_path / "merged.pcapng"
    sn = Sniffer(
        ["-i", gateways[0].url(), "-i", gateways[1].url(), *ssh_options(keys), "-w", str(out)]
        + ["-T", "fields", "-e", "frame.time_epoch", *[a for f in FIELDS for a in ("-e", f)]]
    )
    sn.wait("capturing on", 2)
    threads = [threading.Thread(target=publish, args=(gw, 30)) for gw in gateways]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(1.0)
    code, stdout = sn.stop()
    for r in refs:
        r.stop()
    assert code == 0, sn.lines
    rows = [line.split("\t") for line in stdout.splitlines()]
    times = [float(r[0]) for r in rows]
    assert times == sorted(times), "the merged timeline is not in time order"
    ours = [tuple(r[1:]) for r in rows]
    in_file = tshark_rows(out)
    for gw, ref in zip(gateways, refs, strict=True):
        reference = per_direction(tshark_rows(ref.path), None)
        assert per_direction(ours, gw.name()) == reference
        assert per_direction(in_file, gw.name()) == reference
        n = sum(1 for r in ours if r[0] == gw.name())
        assert any(ln.startswith(f"{gw.name()}: {n} packets captured") for ln in sn.lines), sn.lines
    # the display filter on the source, over the -w file: exactly gw2's frames, in order
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", "-r", str(out), "-Y", f'frame.interface_name == "{gateways[1].name()}"']
        + ["-T", "fields", *[a for f in FIELDS for a in ("-e", f)]],
        capture_output=True,
        text=True,
        env=env(),
    )
    assert res.returncode == 0, res.stderr
    assert [tuple(line.split("\t")) for line in res.stdout.splitlines()] == [
        r for r in in_file if r[0] == gateways[1].name()
    ]


def test_link_faults_reconnect_and_the_other_gateway_goes_on(gateways, keys, tmp_path):
    gw1, gw2 = gateways
    out = tmp_path / "faults.pcapng"
    sn = Sniffer(["-i", gw1.url(), "-i", gw2.url(), *ssh_options(keys), "-T", "fields", "-e", "frame.interface_name"]
                 + ["-e", "mqtt.topic", "-w", str(out)])  # fmt: skip
    sn.wait("capturing on", 2)
    # 1. the remote tcpdump dies: the link is reported lost, then back
    victims = gw1.pids("tcpdump")
    assert victims, "no remote tcpdump runs on the gateway"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    publish(gw2, 5, tag="during")  # the other gateway goes on meanwhile
    sn.wait(f"{gw1.name()}: link lost (the remote tcpdump was killed)")
    sn.wait(f"{gw1.name()}: reconnected")
    publish(gw1, 3, tag="between")
    # 2. sshd dies with its sessions: reconnect attempts fail until it is back
    gw1.sshd.kill()
    gw1.sshd.wait()
    for pid in gw1.pids("sshd") + gw1.pids("tcpdump"):
        os.kill(pid, signal.SIGKILL)
    sn.wait(f"{gw1.name()}: link lost", 2)
    sn.wait("Connection refused")
    gw1.start_sshd()
    sn.wait(f"{gw1.name()}: reconnected", 2, timeout=40)
    publish(gw1, 5, tag="after")
    time.sleep(1.0)
    code, stdout = sn.stop()
    assert code == 0, sn.lines
    rows = [line.split("\t") for line in stdout.splitlines()]
    assert any(r[0] == gw2.name() and "during" in r[1] for r in rows if len(r) > 1), "gw2 stopped with gw1"
    assert any(r[0] == gw1.name() and "after" in r[1] for r in rows if len(r) > 1), "nothing after the reconnect"
    assert any(ln.startswith(f"{gw1.name()}:") and "2 reconnects" in ln for ln in sn.lines), sn.lines
    # each gap is marked in the -w file: a comment on gw1's first frame after it (tshark's frame.comment)
    res = subprocess.run(
        [require_tool("tshark"), "-r", str(out), "-Y", "frame.comment", "-T", "fields", "-e", "frame.interface_name"]
        + ["-e", "frame.comment"],
        capture_output=True,
        text=True,
    )
    marks = [line.split("\t") for line in res.stdout.splitlines()]
    assert len(marks) == 2 and all(m[0] == gw1.name() and m[1].startswith(f"gap: {gw1.name()}") for m in marks), marks


def run_fail(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sniffer", *args], capture_output=True, text=True, env=env(), timeout=60
    )


def test_faults_at_start_are_one_line(gateways, keys, tmp_path):
    gw = gateways[0]
    cases = [
        (["-i", "ssh://gw/"], 2, "bad remote interface 'ssh://gw/'"),
        (["-i", "ssh://a@b@gw:99999/eth0"], 2, "bad"),
        (["-i", gw.url("nosuch0"), *ssh_options(keys)], 1, "nosuch0"),  # tcpdump's own words
        (["-i", f"ssh://root@{gw.addr}:2/{gw.gw_if}", *ssh_options(keys)], 1, "Connection refused"),
        (
            ["-i", gw.url(), *ssh_options(keys, "no_such_known_hosts")],
            1,
            "host key is known for",
        ),  # ssh's own check, not ours
        (["-i", gw.url(), "--remote-sudo", "doas", *ssh_options(keys)], 1, "doas not found"),
    ]
    for args, code, words in cases:
        res = run_fail(args)
        lines = res.stderr.splitlines()
        assert res.returncode == code and len(lines) == 1 and words in lines[0], (args, res.returncode, lines)
        assert "Traceback" not in res.stderr


def test_list_remote_interfaces(gateways, keys):
    gw = gateways[1]
    res = run_fail(["-D", f"ssh://root@{gw.addr}:{SSH_PORT}", *ssh_options(keys)])
    assert res.returncode == 0, res.stderr
    assert f"ssh://root@{gw.addr}:{SSH_PORT}/{gw.gw_if} " in res.stdout
    assert f"/{gateways[0].gw_if} " not in res.stdout  # the gateway's own interfaces, not ours


def sshd_with(
    gw: Gateway, keys: Path, port: int, binds: dict[Path, str], tmp_path: Path, wrap: str = ""
) -> subprocess.Popen:
    """Another sshd in the gateway, in a mount namespace of its own where files are bind-mounted over
    system paths (a gateway without tcpdump, with a wrong clock) for its sessions only."""
    cfg = tmp_path / f"sshd_config_{port}"
    cfg.write_text(
        (gw.dir / "sshd_config")
        .read_text()
        .replace(f"Port {SSH_PORT}", f"Port {port}")
        .replace("sshd.pid", f"{port}.pid")
    )
    mounts = " && ".join([f'mount --bind "{src}" "{dst}"' for src, dst in binds.items()] or ["true"])
    proc = subprocess.Popen(
        [require_tool("unshare"), "-m", "sh", "-c",
         f'{mounts} && exec {wrap} ip netns exec {gw.ns} /usr/sbin/sshd -D -e -f "{cfg}"'],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    hostkey = " ".join((keys / "host_key.pub").read_text().split()[:2])
    (keys / "known_hosts").write_text((keys / "known_hosts").read_text() + f"[{gw.addr}]:{port} {hostkey}\n")
    wait_port(gw.addr, port, proc)
    return proc


def test_no_tcpdump_on_the_gateway_is_one_line(gateways, keys, tmp_path):
    gw = gateways[0]
    missing = tmp_path / "not-a-program"
    missing.write_text("")  # mode 0644: what the shell finds there cannot run
    proc = sshd_with(gw, keys, 2224, {missing: require_tool("tcpdump")}, tmp_path)
    try:
        res = run_fail(["-i", f"ssh://root@{gw.addr}:2224/{gw.gw_if}", *ssh_options(keys)])
    finally:
        proc.kill()
        proc.wait()
    lines = res.stderr.splitlines()
    assert res.returncode == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"mqttsniff: {gw.name()}: tcpdump not found on {gw.addr} (install it there"), lines


def test_a_broken_ssh_wrapper_is_not_taken_for_a_missing_tcpdump(tmp_path):
    """MQTTSNIFF_SSH names a script whose interpreter is missing: the shell that starts it exits 127, the
    code the remote script uses for "no tcpdump"; the line must be the shell's, not that one."""
    wrapper = tmp_path / "ssh-wrapper"
    wrapper.write_text("#!/no/such/interpreter\n")
    wrapper.chmod(0o755)
    res = subprocess.run(
        [sys.executable, "-m", "sniffer", "-i", "ssh://root@127.0.0.1:1/lo"],
        capture_output=True,
        text=True,
        env=dict(env(), MQTTSNIFF_SSH=str(wrapper)),
        timeout=60,
    )
    lines = res.stderr.splitlines()
    assert res.returncode == 1 and len(lines) == 1, (res.returncode, lines)
    assert "tcpdump not found" not in lines[0] and str(wrapper) in lines[0], lines
    assert "Traceback" not in res.stderr


def test_no_permission_on_the_gateway_is_one_line(gateways, keys, tmp_path):
    gw = gateways[0]
    # root without CAP_NET_RAW in its sessions (the capability bounding set): tcpdump may not capture
    drop = f"{require_tool('setpriv')} --bounding-set -net_raw,-net_admin"
    proc = sshd_with(gw, keys, 2225, {}, tmp_path, wrap=drop)
    try:
        res = run_fail(["-i", f"ssh://root@{gw.addr}:2225/{gw.gw_if}", *ssh_options(keys)])
    finally:
        proc.kill()
        proc.wait()
    lines = res.stderr.splitlines()
    assert res.returncode == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"mqttsniff: {gw.name()}: no permission to capture on {gw.addr}: tcpdump:"), lines
    assert lines[0].endswith("(try --remote-sudo)"), lines


@pytest.fixture
def fast_clock_sshd(gateways, keys, tmp_path):
    """A second sshd in gateway 2 whose `date` runs an hour ahead (a bind mount in its own mount namespace):
    a gateway with a wrong clock, as far as the offset probe can tell; its packets keep the kernel's time."""
    gw = gateways[1]
    real = tmp_path / "date.real"
    real.write_bytes(Path("/usr/bin/date").read_bytes())
    real.chmod(0o755)
    fake = tmp_path / "date"
    fake.write_text(
        f'#!/bin/sh\nt=$({real} +%s.%N)\nawk "BEGIN {{ printf \\"MQTTSNIFF-CLOCK%.6f\\n\\", $t + 3600 }}"\n'
    )
    fake.chmod(0o755)
    proc = sshd_with(gw, keys, 2223, {fake: "/usr/bin/date"}, tmp_path)
    try:
        yield f"ssh://root@{gw.addr}:2223/{gw.gw_if}"
    finally:
        proc.kill()
        proc.wait()


KEY = ["-e", "tcp.srcport", "-e", "tcp.seq_raw", "-e", "tcp.ack_raw", "-e", "tcp.len"]  # one frame


def test_clock_offset_measured_and_aligned(gateways, keys, fast_clock_sshd, tmp_path):
    gw = gateways[1]
    for align in (False, True):
        ref = Reference(gw, tmp_path / f"ref{align}.pcap")
        sn = Sniffer(
            ["-i", fast_clock_sshd, *ssh_options(keys), "-T", "fields", "-e", "frame.time_epoch", *KEY]
            + (["--align-clocks"] if align else [])
        )
        sn.wait("capturing on")
        publish(gw, 3, tag=f"clock{align}")
        time.sleep(1.0)
        code, stdout = sn.stop()
        ref.stop()
        assert code == 0, sn.lines
        start = next(ln for ln in sn.lines if "capturing on" in ln)
        offset_ms = float(start.split("clock offset ")[1].split(" ms")[0])
        # an hour ahead, within the half round trip it states (a fixed 50 ms: a loaded machine's ssh
        # round trip can take longer, and the product says so); the ± is rounded to 0.1 ms, as the offset
        half_rtt = float(start.split("(±")[1].split(" ms)")[0])
        assert abs(offset_ms - 3_600_000) <= half_rtt + 0.1, start
        res = subprocess.run(
            [
                require_tool("tshark"),
                "-r",
                str(ref.path),
                "-T",
                "fields",
                "-e",
                "frame.time_epoch",
                *KEY,
            ],
            capture_output=True,
            text=True,
        )
        reference = {tuple(k): float(t) for t, *k in (line.split("\t") for line in res.stdout.splitlines())}
        ours = {tuple(k): float(t) for t, *k in (line.split("\t") for line in stdout.splitlines())}
        assert ours.keys() == reference.keys() and ours
        shift = -offset_ms / 1000 if align else 0.0
        errors = sorted(abs(ours[k] - (reference[k] + shift)) for k in ours)
        # The two tcpdumps on the gateway's interface each stamp their copy of a packet: on a loaded machine a
        # copy can be stamped up to ~0.6 ms after the other (seen in CI rehearsals), so one packet's error says
        # little; the median says whether the stamps were kept and shifted right (the offset is shown to 0.1
        # ms), and no packet may be off by a re-stamping's or a wrong shift's size.
        median, worst = errors[len(errors) // 2], errors[-1]
        assert median < 1.5e-4 and worst < 2e-3, (align, offset_ms, median, worst)
        assert any("(applied)" in ln for ln in sn.lines) == align
    # the UI's status bar shows the offset too
    import argparse

    from sniffer.capture.multi import open_multi

    os.environ["MQTTSNIFF_SSH"] = env()["MQTTSNIFF_SSH"]
    try:
        opts = [o for o in ssh_options(keys) if o != "--ssh-option"]
        args = argparse.Namespace(interfaces=[fast_clock_sshd], ssh_options=opts, capture_filter=None)
        multi = open_multi(args, ui=True, warn=lambda message: None)
        try:
            assert re.search(r"clock \+(3599|3600)\d{3} ms", multi.status()), multi.status()
        finally:
            multi.stop()
    finally:
        del os.environ["MQTTSNIFF_SSH"]


def test_ctrl_c_on_the_terminal_stops_cleanly(gateways, keys, tmp_path):
    """A terminal's Ctrl-C signals the whole foreground group, ssh included: the capture must still end
    as mqttsniff's own stop does (every frame, the remote counts), not as a lost link."""
    gw = gateways[0]
    ref = Reference(gw, tmp_path / "ref.pcap")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sniffer", "-i", gw.url(), *ssh_options(keys), "-T", "fields"]
        + [a for f in FIELDS for a in ("-e", f)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    line = proc.stderr.readline()
    assert "capturing on" in line, line
    publish(gw, 10, tag="ctrlc")
    time.sleep(1.0)
    # ssh must not die of the same signal at the same moment (a race that looked like a lost link)
    ssh_pids = subprocess.run(["pgrep", "-P", str(proc.pid), "ssh"], capture_output=True, text=True).stdout.split()
    assert len(ssh_pids) == 1, ssh_pids
    status = Path(f"/proc/{ssh_pids[0]}/status").read_text()
    ignored = int(next(ln for ln in status.splitlines() if ln.startswith("SigIgn:")).split()[1], 16)
    assert ignored & (1 << (signal.SIGINT - 1)), "ssh does not ignore SIGINT"
    assert ignored & (1 << (signal.SIGHUP - 1)), "ssh does not ignore SIGHUP (a terminal closing)"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    ref.stop()
    assert proc.returncode == 0, err
    assert "link lost" not in err and "reconnect" not in err, err
    ours = per_direction([tuple(ln.split("\t")) for ln in out.splitlines()])
    assert ours == per_direction(tshark_rows(ref.path), None), err
    assert gw.pids("tcpdump") == [], "the remote tcpdump was left running on the gateway"


def silent_host():
    """(a listening socket, its port): a host that accepts and never says a word, so ssh waits for its banner;
    accept() times out after 20 s (ssh never connecting fails the test, not hangs it)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    silent.settimeout(20)
    return silent, silent.getsockname()[1]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_while_ssh_connects_ends_the_wait_in_one_line(keys, tmp_path, sig):
    """ssh ignores SIGINT (so that a terminal's Ctrl-C cannot cut a capture short): a Ctrl-C while it still
    connects must then end the wait itself, with one line, the shell's code for the signal (130 for SIGINT,
    143 for SIGTERM), and no ssh left."""

    silent, port = silent_host()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sniffer", "-i", f"ssh://root@127.0.0.1:{port}/lo", *ssh_options(keys)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
            start_new_session=True,
        )
        conn, _ = silent.accept()  # ssh is connected and waiting: the moment a user gives up
        time.sleep(0.5)
        started = time.monotonic()
        os.killpg(proc.pid, sig)
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - started
        conn.close()
    finally:
        silent.close()
    lines = err.splitlines()
    assert proc.returncode == 128 + sig and len(lines) == 1 and "interrupted while connecting" in lines[0], lines
    assert took < 6, took  # ssh's own ConnectTimeout is 10 s: the wait was ended, not timed out (a loaded machine)
    left = subprocess.run(["pgrep", "-f", "--", f"-p {port} "], capture_output=True, text=True).stdout.split()
    assert left == [], "ssh was left running"


def test_a_stop_during_a_reconnect_attempt_ends_it_without_a_retry_line(keys):
    """A reconnect attempt hangs on a silent host; the user stops: the attempt ends at once, with no
    "(attempt 1; retrying in ...)" line for an attempt nobody wants any more."""
    import threading

    from sniffer.capture.remote import RemoteCapture, parse_url

    silent, port = silent_host()
    events: list[str] = []
    opts = [o for o in ssh_options(keys) if o != "--ssh-option"]
    rc = RemoteCapture(parse_url(f"ssh://root@127.0.0.1:{port}/lo"), "tcp", 262144, ssh_options=opts,
                       on_event=events.append)  # fmt: skip
    result: list[bool] = []
    old = os.environ.get("MQTTSNIFF_SSH")
    os.environ["MQTTSNIFF_SSH"] = env()["MQTTSNIFF_SSH"]
    try:
        t = threading.Thread(target=lambda: result.append(rc._reconnect_loop()))
        t.start()
        conn, _ = silent.accept()  # the first attempt (after a second's backoff) is waiting for a banner
        time.sleep(0.3)
        rc.request_stop()
        t.join(5)
        conn.close()
    finally:
        silent.close()
        rc.stop()  # (its wake pipe)
        if old is None:
            del os.environ["MQTTSNIFF_SSH"]
        else:
            os.environ["MQTTSNIFF_SSH"] = old
    assert not t.is_alive() and result == [False], result
    assert events == [], events
    left = subprocess.run(["pgrep", "-f", "--", f"-p {port} "], capture_output=True, text=True).stdout.split()
    assert left == [], "ssh was left running"


def test_batch_mode_unless_the_user_chose_and_always_on_reconnect_under_the_ui():
    """ssh_config(5): the first value given for an option wins, so the position of BatchMode decides."""
    from sniffer.capture.remote import parse_url, ssh_argv

    target = parse_url("ssh://pi@gw:2200/eth0")

    def batch(argv: list[str]) -> str:
        return next(argv[k + 1] for k, a in enumerate(argv) if a == "-o" and argv[k + 1].lower().startswith("batch"))

    assert batch(ssh_argv(target, "true", [])) == "BatchMode=yes"
    assert batch(ssh_argv(target, "true", ["BatchMode=no"])) == "BatchMode=no"  # prompts on the terminal
    assert batch(ssh_argv(target, "true", ["BatchMode=no"], force_batch=True)) == "BatchMode=yes"
    argv = ssh_argv(target, "true", ["ProxyJump=bastion"])
    assert argv[-3:] == ["--", "pi@gw", "true"] and argv[argv.index("-p") + 1] == "2200"
    assert "ProxyJump=bastion" in argv


def test_ui_status_bar_counts_each_source_and_the_tree_names_it(gateways, keys, monkeypatch, tmp_path):
    """Two gateways in the UI (headless Textual): per-source counts in the status bar, and a stored frame
    rebuilt for the tree still says which gateway it came from."""
    import argparse

    from ui_helpers import run, wait_for

    from sniffer.capture.multi import open_multi
    from sniffer.pipeline import Dissector
    from sniffer.ui.app import SnifferApp

    monkeypatch.setenv("MQTTSNIFF_SSH", "ssh -F /dev/null")
    opts = [o for o in ssh_options(keys) if o != "--ssh-option"]
    args = argparse.Namespace(interfaces=[gw.url() for gw in gateways], ssh_options=opts, capture_filter=None)
    multi = open_multi(args, ui=True, warn=lambda message: None)
    app = SnifferApp(multi, Dissector())

    async def go() -> None:
        async with app.run_test(size=(200, 40)) as pilot:
            publish(gateways[0], 2, tag="ui")
            publish(gateways[1], 3, tag="ui")
            want = [(gw.name(), multi.members[k]) for k, gw in enumerate(gateways)]
            await wait_for(pilot, lambda: all(m.captured >= 10 for _, m in want), 20, "frames of both gateways")
            await wait_for(pilot, lambda: app.store.count == sum(m.captured for _, m in want), 20, "the store")
            text = app.status_text()
            for name, m in want:
                assert f"{name}: {m.captured}" in text, text
            names = {
                n.value
                for i in range(app.store.count)
                for n in app.store.frame(i).tree()[0].walk()
                if n.fdef is not None and n.fdef.abbrev == "frame.interface_name"
            }
            assert names == {gw.name() for gw in gateways}
            # `w` saves them with their names: an interface block per gateway, as tshark reads it
            from sniffer.ui.save import write_pcapng

            saved = tmp_path / "saved.pcapng"
            write_pcapng(str(saved), app.store, range(app.store.count))
            rows = tshark_rows(saved)
            for name, m in want:
                assert sum(1 for r in rows if r[0] == name) == m.captured

    try:
        run(go())
    finally:
        multi.stop()


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("sh: 1: doas: not found", "doas not found on gw (--remote-sudo sudo?)"),  # dash
        ("bash: line 1: doas: command not found", "doas not found on gw"),
        ("zsh:1: command not found: doas", "doas not found on gw"),
        ("sh: doas: not found", "doas not found on gw"),  # busybox
        ("tcpdump: not found on the remote host", "tcpdump not found on gw (install it there"),
        # a broken wrapper (MQTTSNIFF_SSH) whose path names doas: the shell's own words, nothing guessed
        (
            "/bin/sh: 1: exec: /usr/local/bin/doas-ssh: not found",
            "/bin/sh: 1: exec: /usr/local/bin/doas-ssh: not found",
        ),
        ("/bin/sh: 1: exec: /opt/tcpdump-ssh: not found", "/bin/sh: 1: exec: /opt/tcpdump-ssh: not found"),
    ],
)
def test_exit_127_is_read_from_who_said_not_found(line, says):
    """Exit code 127 is both the remote script's "no tcpdump" and any shell's "command not found": the line
    decides which (sniffer.capture.remote.explain), from the shells' own wordings."""
    from sniffer.capture.remote import explain, parse_url

    out = explain(parse_url("ssh://root@gw/eth0"), 127, [line], "doas")
    assert out.startswith(f"gw:eth0: {says}"), out


def test_a_slow_consumer_of_a_gateway_gets_every_frame_from_the_backlog(gateways, keys, monkeypatch, tmp_path):
    """The records of a remote capture that nobody reads wait on disk once 20 are queued in memory
    (sniffer.capture.backlog), and come out in order: the same frames as tcpdump inside the gateway."""
    from sniffer.capture import remote
    from sniffer.output.printer import OutputOptions, Printer
    from sniffer.pipeline import Dissector

    monkeypatch.setattr(remote, "MAX_QUEUED", 20)
    monkeypatch.setenv("MQTTSNIFF_SSH", env()["MQTTSNIFF_SSH"])
    gw = gateways[0]
    ref = Reference(gw, tmp_path / "ref.pcap")
    opts = [o for o in ssh_options(keys) if o != "--ssh-option"]
    # (-B 64 MB: in immediate mode tcpdump's ring holds a slot of 64 KB per packet, the default 8 MB only 128 of
    # the ~131 frames; a loaded machine that leaves the remote tcpdump unscheduled for a moment drops the rest)
    rc = remote.RemoteCapture(remote.parse_url(gw.url()), "tcp port 1883", 262144, ssh_options=opts, buffer_mb=64)
    rc.open()
    rc.start()
    try:
        publish(gw, 60)
        time.sleep(1.0)
        memory, disk = rc.waiting()
    finally:
        rc.stop()
        ref.stop()
    records = [r for batch in iter(lambda: rc.get_batch(1), None) for r in batch]
    assert rc.queue_dropped == 0 and rc.captured == len(records), rc.summary()
    assert ", 0 dropped by the remote kernel" in rc.summary(), rc.summary()
    # all but the 20 of the queue waited on disk (the exchange makes about 131 frames; relative, not counted)
    assert len(records) > 60 and memory <= 20 and disk > len(records) - 40 and memory + disk <= len(records)
    assert (
        ", 0 dropped by mqttsniff, " in rc.summary() and " waited on disk for the dissector (at most " in rc.summary()
    )
    lines = []
    with open(os.devnull, "w") as null:
        line = Printer(OutputOptions(fmt="fields", fields=FIELDS[1:]), null).line
        d = Dissector()
        for n, (ts, data, olen, lt, *_rest) in enumerate(records, 1):
            lines.append(tuple([gw.name(), *line(d.frame(n, ts, lt, data, olen)).split("\t")]))
    assert per_direction(lines) == per_direction(tshark_rows(ref.path), None)
