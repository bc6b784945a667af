"""Live-capture faults through the real CLI: each one clear line, the right exit code, nothing lost.

Unknown interface, bad BPF, no privileges, the interface going down mid-capture (a veth pair in a
network namespace made by the test), a full disk (a 64 KiB tmpfs), a broken pipe (`| head -1`: one line, exit 1),
plus -D, -c, -a, Ctrl-C, dropping root to the sudo user, and VLAN tags the kernel moved into metadata.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from capture_helpers import needs_root, packets
from conftest import REPO, free_port, require_tool

pytestmark = needs_root
CMD = [sys.executable, "-m", "sniffer"]


def mqttsniff(*args: str, timeout: float = 30, prefix: list[str] | None = None, env=None):
    return subprocess.run(
        [*(prefix or []), *CMD, *args], capture_output=True, text=True, cwd=REPO, timeout=timeout, env=env
    )


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


class Live:
    """mqttsniff capturing in the background; returns once its filter is attached."""

    def __init__(self, *args: str, prefix: list[str] | None = None, env=None, preexec_fn=None) -> None:
        self.proc = subprocess.Popen(
            [*(prefix or []), *CMD, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=env,
            preexec_fn=preexec_fn,
        )
        self.err = b""
        deadline = time.monotonic() + 20
        while b"capturing on" not in self.err:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if ready:
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                self.err += chunk
            if time.monotonic() > deadline or self.proc.poll() is not None:
                break
        assert b"capturing on" in self.err, self.err.decode(errors="replace")

    def finish(self, timeout: float = 15) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out.decode(), (self.err + err).decode()


class TcpTraffic:
    """A listener on 127.0.0.1 and a client sending ``nbytes``: real TCP frames on lo."""

    def __init__(self) -> None:
        self.port = free_port()
        self.srv = socket.create_server(("127.0.0.1", self.port))

    def send(self, nbytes: int = 1000) -> None:
        def drain() -> None:
            conn, _ = self.srv.accept()
            with conn:
                while conn.recv(1 << 20):
                    pass

        t = threading.Thread(target=drain)
        t.start()
        with socket.create_connection(("127.0.0.1", self.port)) as c:
            c.sendall(os.urandom(nbytes))
        t.join(10)

    def close(self) -> None:
        self.srv.close()


@pytest.fixture
def traffic():
    t = TcpTraffic()
    yield t
    t.close()


def tshark_count(path: Path) -> int:
    res = subprocess.run([require_tool("tshark"), "-r", str(path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"tshark cannot read {path}: {res.stderr}"
    return len(res.stdout.splitlines())


# -- start-up faults -------------------------------------------------------------------------------


def test_unknown_interface_lists_the_real_ones():
    res = mqttsniff("-i", "nosuch0")
    line = one_line(res.stderr)
    assert res.returncode == 1
    assert "no such interface 'nosuch0'" in line and "lo" in line and "any" in line


def test_bad_capture_filter_gives_the_compilers_message():
    res = mqttsniff("-i", "lo", "-f", "tcp and prt 1883")
    line = one_line(res.stderr)
    assert res.returncode == 1
    assert "invalid capture filter 'tcp and prt 1883'" in line and "syntax error" in line


def test_without_cap_net_raw_says_how_to_fix_it():
    """As `nobody` when the interpreter is reachable for it, else as root stripped of CAP_NET_RAW."""
    setpriv = require_tool("setpriv")
    as_nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    probe = subprocess.run([*as_nobody, sys.executable, "-c", "pass"], capture_output=True)
    if probe.returncode == 0 and os.access(REPO, os.R_OK):
        prefix = as_nobody
    else:  # the interpreter lives under /root (pyenv): keep uid 0 but drop the capabilities
        prefix = [setpriv, "--bounding-set=-net_raw,-net_admin", "--inh-caps=-all"]
    res = mqttsniff("-i", "lo", prefix=prefix)
    line = one_line(res.stderr)
    assert res.returncode == 2
    assert "permission to capture on lo" in line and "CAP_NET_RAW" in line
    assert "sudo" in line and "setcap cap_net_raw,cap_net_admin+eip" in line
    # never the shared interpreter the venv's python links to: only the venv's own copy
    shared = os.path.realpath(sys.executable)
    assert f"cap_net_admin+eip {shared}" not in line
    if os.path.islink(sys.executable):
        assert f'cp --remove-destination "$(readlink -f {sys.executable})" {sys.executable}' in line


def test_list_interfaces():
    res = mqttsniff("-D")
    assert res.returncode == 0, res.stderr
    assert "lo [Up, Running, Loopback] 127.0.0.1/8" in res.stdout
    assert "any (Pseudo-device that captures on all interfaces)" in res.stdout


def test_live_options_need_dash_i():
    res = mqttsniff("-r", "x.pcap", "-w", "y.pcapng")
    assert res.returncode == 2 and "only with -i" in one_line(res.stderr)


# -- stopping --------------------------------------------------------------------------------------


def test_count_stops_after_n_frames(traffic, tmp_path):
    out = tmp_path / "c.pcapng"
    live = Live(
        "-i", "lo", "-f", f"tcp port {traffic.port}", "-c", "5", "-w", str(out), "-T", "fields", "-e", "frame.number"
    )
    traffic.send(200_000)
    rc, stdout, stderr = live.finish()
    assert rc == 0, stderr
    assert stdout.split() == ["1", "2", "3", "4", "5"]
    assert "5 packets captured" in stderr and "5 packets written" in stderr
    assert tshark_count(out) == 5


def test_duration_stops_by_itself():
    start = time.monotonic()
    res = mqttsniff("-i", "lo", "-f", f"tcp port {free_port()}", "-a", "duration:1")
    assert res.returncode == 0, res.stderr
    assert 0.9 < time.monotonic() - start < 8
    assert "0 packets captured" in res.stderr and "0 packets dropped by kernel" in res.stderr


def test_ctrl_c_prints_the_summary_and_keeps_the_file(traffic, tmp_path):
    out = tmp_path / "int.pcapng"
    live = Live("-i", "lo", "-f", f"tcp port {traffic.port}", "-w", str(out))
    traffic.send(50_000)
    time.sleep(0.3)
    live.proc.send_signal(signal.SIGINT)
    rc, stdout, stderr = live.finish()
    assert rc == 0, stderr
    n = len(stdout.splitlines())
    assert n >= 5 and f"{n} packets captured" in stderr and "dropped by mqttsniff" in stderr
    assert tshark_count(out) == n


def test_ctrl_c_stops_a_background_job(traffic):
    # A shell starts `cmd &` with SIGINT ignored; like tcpdump, `kill -INT` must still stop the capture.
    live = Live(
        "-i", "lo", "-f", f"tcp port {traffic.port}", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)
    )
    traffic.send(10_000)
    time.sleep(0.3)
    live.proc.send_signal(signal.SIGINT)
    rc, stdout, stderr = live.finish()
    assert rc == 0, stderr
    assert "packets captured" in stderr and len(stdout.splitlines()) >= 3


# -- faults mid-capture ----------------------------------------------------------------------------


def test_broken_pipe_says_so_and_keeps_the_file(traffic, tmp_path):
    out = tmp_path / "bp.pcapng"
    live = Live("-i", "lo", "-f", f"tcp port {traffic.port}", "-T", "fields", "-e", "frame.number", "-w", str(out))
    traffic.send(1000)
    first = live.proc.stdout.readline()  # `| head -1`
    live.proc.stdout.close()
    assert first.strip() == b"1"
    for _ in range(3):
        traffic.send(1000)
        time.sleep(0.1)
    live.proc.wait(15)
    err = (live.err + live.proc.stderr.read()).decode()
    assert live.proc.returncode == 1, err  # the README: one line and a non-zero code
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "mqttsniff: output closed (broken pipe)", err
    captured = int(re.search(r"(\d+) packets? captured", err)[1])
    assert f"{packets(captured)} written" in err
    assert tshark_count(out) == captured >= 1


def test_disk_full_keeps_a_valid_file(traffic, tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    try:
        out = mnt / "full.pcapng"
        live = Live("-i", "lo", "-f", f"tcp port {traffic.port}", "-w", str(out), "-T", "fields", "-e", "frame.number")
        for _ in range(3):
            traffic.send(300_000)
        rc, stdout, stderr = live.finish()
        assert rc == 1, stderr
        assert "No space left on device" in stderr and "capture stopped" in stderr
        written = tshark_count(out)  # tshark opens it without complaint
        assert written >= 3  # at least the handshake made it
        assert f"{written} packets written" in stderr
        # Nothing lost for the display: every captured frame was still dissected and printed.
        captured = int(stderr.split(" packets captured")[0].split()[-1])
        assert len(stdout.splitlines()) == captured > written
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.fixture
def veth_netns():
    """A network namespace with a veth pair v0/v1 up, and a static neighbour so UDP leaves v0 at once."""
    ip = require_tool("ip")
    ns = f"mqsniff-{uuid.uuid4().hex[:8]}"
    subprocess.run([ip, "netns", "add", ns], check=True)
    try:
        run = lambda *a: subprocess.run([ip, "netns", "exec", ns, *a], check=True, capture_output=True)  # noqa: E731
        run(ip, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        run(ip, "addr", "add", "198.51.100.1/24", "dev", "v0")
        run(ip, "link", "set", "v0", "up")
        run(ip, "link", "set", "v1", "up")
        mac = subprocess.run(
            [ip, "netns", "exec", ns, "cat", "/sys/class/net/v1/address"], capture_output=True, text=True
        ).stdout.strip()
        run(ip, "neigh", "add", "198.51.100.2", "lladdr", mac, "dev", "v0")
        yield ns, run
    finally:
        subprocess.run([ip, "netns", "del", ns], check=False)


def test_interface_down_mid_capture(veth_netns, tmp_path):
    ns, run = veth_netns
    out = tmp_path / "down.pcapng"
    live = Live(
        "-i",
        "v0",
        "-f",
        "udp",
        "-w",
        str(out),
        "-T",
        "fields",
        "-e",
        "frame.number",
        prefix=[require_tool("ip"), "netns", "exec", ns],
    )
    send = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "for i in range(5): s.sendto(b'hello %d' % i, ('198.51.100.2', 9))"
    )
    run(sys.executable, "-c", send)
    deadline = time.monotonic() + 10
    lines = b""
    while lines.count(b"\n") < 5 and time.monotonic() < deadline:
        ready, _, _ = select.select([live.proc.stdout], [], [], 0.2)
        if ready:
            lines += os.read(live.proc.stdout.fileno(), 4096)
    assert lines.count(b"\n") == 5
    run(require_tool("ip"), "link", "set", "v0", "down")
    rc, stdout, stderr = live.finish()
    assert rc == 1
    assert "interface v0 went down" in stderr and "capture stopped" in stderr
    assert "5 packets captured" in stderr
    assert tshark_count(out) == 5


# Tagged UDP frames sent raw on v0 (this kernel may have no 8021q module for a VLAN interface): an 802.1Q tag
# (VLAN 7) and an 802.1ad one (VLAN 9); each arrives at v1 with the tag moved into the kernel's metadata.
_SEND_TAGGED = r"""
import socket, struct, sys
def csum(b):
    s = sum(struct.unpack('!10H', b))
    s = (s & 0xFFFF) + (s >> 16)
    return ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF
dst, src = bytes.fromhex(sys.argv[1].replace(':', '')), bytes.fromhex(sys.argv[2].replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('v0', 0))
for i, n in enumerate([1, 100, 1000, 1400, 9]):
    udp = struct.pack('!HHHH', 40000 + i, 9, 8 + n, 0) + b'v' * n
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                     bytes([198, 51, 100, 1]), bytes([198, 51, 100, 2]))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    tag = struct.pack('!HH', 0x8100, 7) if i % 2 == 0 else struct.pack('!HH', 0x88A8, 0x2009)
    s.send(dst + src + tag + b'\x08\x00' + ip + udp)
"""


def _tagged_frames_setup(ns: str, iface: str, snaplen: int, ref_path: Path):
    """For the VLAN tests: the netns's command prefix, v0's and v1's MACs, the capture filter, and tcpdump
    capturing on `iface` (cooked for `any`) into `ref_path`, returned once it listens.

    On v1 the filter reads no further than the shortest snap length (libpcap's `udp` keeps nothing at -s 14
    on a tagged frame); a cooked filter cannot read link-layer addresses."""
    prefix = [require_tool("ip"), "netns", "exec", ns]
    mac = {
        dev: subprocess.run(
            [*prefix, "cat", f"/sys/class/net/{dev}/address"], capture_output=True, text=True
        ).stdout.strip()
        for dev in ("v0", "v1")
    }
    expr = f"ether dst {mac['v1']}" if iface == "v1" else "udp"
    snap = ["-s", str(snaplen)] if snaplen else []
    cooked = ["-y", "LINUX_SLL"] if iface == "any" else []
    ref = subprocess.Popen(
        [*prefix, require_tool("tcpdump"), "-i", iface, *cooked, *snap, "-U", "-n", "-w", str(ref_path), expr],
        stderr=subprocess.PIPE,
        text=True,
    )
    said = ""
    while "listening on" not in said and ref.poll() is None:  # (after "data link type", "snaplen raised")
        said += ref.stderr.readline()
    if "listening on" not in said:
        ref.kill()
        pytest.fail(f"tcpdump did not start: {said}")
    return prefix, mac, expr, ref


@pytest.mark.parametrize(
    ("iface", "snaplen"),
    [("v1", 0), ("v1", 60), ("v1", 14), ("v1", 10), ("any", 0), ("any", 60)],
)
def test_vlan_frames_keep_their_tag_byte_for_byte_as_tcpdump_writes_them(veth_netns, tmp_path, iface, snaplen):
    """A tagged frame reaches the ring with its 802.1Q/802.1ad tag moved into the kernel's metadata
    (TP_STATUS_VLAN_VALID, and the TPID): the tag is put back, then the frame cut to the snap length, so the -w
    file and the dissector get the frame tcpdump writes, on Ethernet and cooked (`-i any`, where the tag goes
    before the SLL protocol). Real parts: a veth pair in a network namespace, tcpdump capturing beside us."""
    ns, run = veth_netns
    ref_path, out = tmp_path / "ref.pcap", tmp_path / "vlan.pcapng"
    prefix, mac, expr, ref = _tagged_frames_setup(ns, iface, snaplen, ref_path)
    snap = ["-s", str(snaplen)] if snaplen else []
    fields = ["-T", "fields", "-e", "vlan.id", "-e", "ieee8021ad.id", "-e", "udp.length"]
    live = Live("-i", iface, *snap, "-f", expr, "-w", str(out), *fields, prefix=prefix)
    try:
        run(sys.executable, "-c", _SEND_TAGGED, mac["v1"], mac["v0"])
        time.sleep(1.0)
    finally:
        live.proc.send_signal(signal.SIGINT)
        ref.send_signal(signal.SIGINT)
        rc, stdout, stderr = live.finish()
        ref.communicate(timeout=10)
    from sniffer.net.pcapfile import open_capture

    ours = [(r[1], r[2]) for r in open_capture(str(out))]
    theirs = [(r[1], r[2]) for r in open_capture(str(ref_path))]
    assert rc == 0 and f"{len(theirs)} packets captured" in stderr, stderr
    assert ours == theirs and len(ours) == 5  # (`any`: those received on v1; sent raw on v0, they are no UDP)
    assert all(len(d) <= int(snaplen or 262144) for d, _ in ours)
    if iface == "v1" and not snaplen:
        assert [d[12:16].hex() for d, _ in ours] == ["81000007", "88a82009", "81000007", "88a82009", "81000007"]
        # the dissector read the tag and the UDP header behind it, as tshark reads the file
        tshark = subprocess.run([require_tool("tshark"), "-r", str(out), *fields], capture_output=True, text=True)
        assert stdout == tshark.stdout and stdout.splitlines()[:2] == ["7\t\t9", "\t9\t108"]


_CAPTURE_WITHOUT_RING = r"""
import sys
from sniffer.capture import LiveCapture
iface, snaplen, expr, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cap = LiveCapture(iface, expr, snaplen=snaplen, write_path=out, use_ring=False, duration=3.0)
cap.open()
cap.start()
print(cap.mode, flush=True)
cap.wait(10)
cap.stop()
"""


@pytest.mark.parametrize(("iface", "snaplen"), [("v1", 0), ("v1", 60), ("v1", 10), ("any", 0), ("any", 60)])
def test_without_the_ring_vlan_frames_are_as_tcpdump_writes_them_too(veth_netns, tmp_path, iface, snaplen):
    """The recvmsg fallback (a kernel or memory limit that refuses the ring) puts tags back and cuts to the snap
    length by the same rule (the tag from PACKET_AUXDATA)."""
    ns, run = veth_netns
    ref_path, out = tmp_path / "ref.pcap", tmp_path / "norings.pcapng"
    prefix, mac, expr, ref = _tagged_frames_setup(ns, iface, snaplen, ref_path)
    ours = subprocess.Popen(
        [*prefix, sys.executable, "-c", _CAPTURE_WITHOUT_RING, iface, str(snaplen), expr, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert ours.stdout.readline().strip() == "recvmsg"
        run(sys.executable, "-c", _SEND_TAGGED, mac["v1"], mac["v0"])
        assert ours.wait(15) == 0
    finally:
        ours.kill()
        ref.send_signal(signal.SIGINT)
        ref.communicate(timeout=10)
    from sniffer.net.pcapfile import open_capture

    mine = [(r[1], r[2]) for r in open_capture(str(out))]
    assert mine == [(r[1], r[2]) for r in open_capture(str(ref_path))] and len(mine) == 5


# -- privileges ------------------------------------------------------------------------------------


def test_sudo_user_owns_the_written_file(traffic):
    """Started through sudo (SUDO_UID/SUDO_GID, as sudo sets them): root is dropped after the socket opens."""
    shared = Path(tempfile.mkdtemp(prefix="mqsniff-"))
    shared.chmod(0o777)
    try:
        env = dict(os.environ, SUDO_UID="65534", SUDO_GID="65534", SUDO_USER="nobody")
        mine = shared / "mine.pcapng"
        live = Live("-i", "lo", "-f", f"tcp port {traffic.port}", "-c", "3", "-w", str(mine), env=env)
        traffic.send(1000)
        rc, _out, stderr = live.finish()
        assert rc == 0, stderr
        st = mine.stat()
        assert (st.st_uid, st.st_gid) == (65534, 65534)
        assert tshark_count(mine) == 3
        kept = shared / "root.pcapng"  # -Z root keeps root
        live = Live("-i", "lo", "-f", f"tcp port {traffic.port}", "-c", "3", "-w", str(kept), "-Z", "root", env=env)
        traffic.send(1000)
        rc, _out, stderr = live.finish()
        assert rc == 0, stderr
        assert kept.stat().st_uid == 0
    finally:
        shutil.rmtree(shared, ignore_errors=True)
