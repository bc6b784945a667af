"""-w with -b (dumpcap's ring buffer), through the real CLI capturing on lo: mosquitto, paho clients,
tcpdump as the reference capture, tshark/capinfos opening every file, dumpcap itself for the names.

Rotation by size (files never past the size, every frame once and in order across the files), files:N
(only the newest N stay, with the highest numbers), by time (duration, interval, idle too), several
sources (an Interface Description Block each, in every file), TLS keys in every file, a full disk,
and each bad -b as one line with exit code 1.
"""

from __future__ import annotations

import collections
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capture_helpers import Tcpdump, needs_root
from conftest import REPO, require_tool, start_broker

pytestmark = needs_root
CMD = [sys.executable, "-m", "sniffer"]
NAME = re.compile(r"(?P<prefix>.*)_(?P<num>\d{5})_(?P<stamp>\d{14})(?P<suffix>.*)$")
# per frame, what tells it apart: (time, length, ports, sequence numbers, flags, payload length)
FIELDS = ["frame.time_epoch", "frame.len", "frame.cap_len", "tcp.srcport", "tcp.dstport", "tcp.seq_raw"]
FIELDS += ["tcp.ack_raw", "tcp.flags", "tcp.len"]


class Live:
    """`mqttsniff -i lo ARGS` in the background; returns once it is capturing."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
        self.err = b""
        deadline = time.monotonic() + 20
        while b"capturing on" not in self.err and time.monotonic() < deadline and self.proc.poll() is None:
            if select.select([self.proc.stderr], [], [], 0.2)[0]:
                self.err += os.read(self.proc.stderr.fileno(), 4096)
        assert b"capturing on" in self.err, self.err.decode(errors="replace")

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out.decode(), (self.err + err).decode()


def ring_files(directory: Path, stem: str = "out") -> list[Path]:
    """The ring's files, by number (which is also the order they were written in)."""
    return sorted(directory.glob(f"{stem}_*"), key=lambda p: int(NAME.match(p.name)["num"]))


def rows(path: Path, port: int | None = None) -> list[tuple[str, ...]]:
    """tshark's identifying fields of every frame of a capture file (it must open it without complaint)."""
    cmd = [require_tool("tshark"), "-r", str(path), "-T", "fields", "-E", "separator=|"]
    if port:
        cmd += ["-d", f"tcp.port=={port},mqtt"]
    for f in FIELDS:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    complaints = [ln for ln in res.stderr.splitlines() if ln.strip() and "Running as user" not in ln]
    assert res.returncode == 0 and not complaints, f"tshark on {path}: {res.stderr}"
    return [tuple(line.split("|")) for line in res.stdout.splitlines()]


def capinfos_count(path: Path) -> int:
    res = subprocess.run([require_tool("capinfos"), "-c", "-M", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, f"capinfos on {path}: {res.stderr}"
    return int(re.search(r"Number of packets:\s+(\d+)", res.stdout)[1])


def without_time(row: tuple[str, ...]) -> tuple[str, ...]:
    return row[1:]  # each capture socket stamps its own copy of a packet: the rest is the packet's


def per_direction(frames: list[tuple[str, ...]]) -> dict[tuple[str, str], list[tuple[str, ...]]]:
    """Frames by (source port, destination port), in capture order: two senders on two CPUs may reach
    two capturing sockets in either order, one direction of one connection never does."""
    out: dict[tuple[str, str], list[tuple[str, ...]]] = collections.defaultdict(list)
    for r in frames:
        out[(r[3], r[4])].append(without_time(r))
    return dict(out)


def publish(port: int, count: int, sizes: list[int], pause: float = 0.0) -> None:
    """One paho client publishing ``count`` QoS 1 messages of the given sizes in turn, each acknowledged."""
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ring", protocol=mqtt.MQTTv311)
    c.connect("127.0.0.1", port, keepalive=60)
    c.loop_start()
    try:
        for i in range(count):
            c.publish(f"ring/{i}", os.urandom(sizes[i % len(sizes)]), qos=1).wait_for_publish(10)
            if pause:
                time.sleep(pause)
    finally:
        c.disconnect()
        c.loop_stop()


def stamp_of(path: Path) -> float:
    """The local time a ring file was opened, from its name (dumpcap's %Y%m%d%H%M%S)."""
    return time.mktime(time.strptime(NAME.match(path.name)["stamp"], "%Y%m%d%H%M%S"))


def epb_sizes(path: Path) -> list[int]:
    """The size of each Enhanced Packet Block of a pcapng file, in order."""
    raw, off, out = path.read_bytes(), 0, []
    while off + 8 <= len(raw):
        btype, total = int.from_bytes(raw[off : off + 4], "little"), int.from_bytes(raw[off + 4 : off + 8], "little")
        if btype == 6:
            out.append(total)
        off += total
    return out


def secrets_in(path: Path) -> bytes:
    """The key log lines of every Decryption Secrets Block of a pcapng file."""
    raw, off, out = path.read_bytes(), 0, b""
    while off + 8 <= len(raw):
        btype, total = int.from_bytes(raw[off : off + 4], "little"), int.from_bytes(raw[off + 4 : off + 8], "little")
        if btype == 10:
            n = int.from_bytes(raw[off + 12 : off + 16], "little")
            out += raw[off + 16 : off + 16 + n]
        off += total
    return out


# -- rotation by size ------------------------------------------------------------------------------


def test_filesize_rotation_every_frame_once_in_order(tmp_path):
    with start_broker(tmp_path) as broker:
        expr = f"tcp port {broker.port}"
        ref = Tcpdump("lo", expr, tmp_path / "ref.pcap")
        started = time.time()
        live = Live("-i", "lo", "-f", expr, "-w", str(tmp_path / "out.pcapng"), "-b", "filesize:40", "-q")
        try:
            publish(broker.port, 240, [60, 1400, 300, 9000, 5])
            time.sleep(0.5)
        finally:
            rc, _out, err = live.stop()
            ref.stop()
            ref_rows = rows(ref.path, broker.port)
        ended = time.time()
    assert rc == 0, err
    files = ring_files(tmp_path)
    assert len(files) >= 8, [f.name for f in files]
    # dumpcap's names: numbered from 1 without a gap, stamped with the (local) time each was opened
    assert [int(NAME.match(f.name)["num"]) for f in files] == list(range(1, len(files) + 1))
    assert all(NAME.match(f.name)["suffix"] == ".pcapng" for f in files)
    stamps = [stamp_of(f) for f in files]
    assert stamps == sorted(stamps) and int(started) <= stamps[0] and stamps[-1] <= ended
    # each file at most 40 kB (1000 bytes each), and it switched only because the next frame did not fit
    sizes = [f.stat().st_size for f in files]
    assert max(sizes) <= 40_000
    for f, nxt in zip(files, files[1:], strict=False):
        assert f.stat().st_size + epb_sizes(nxt)[0] > 40_000, f.name
    # every file opens in tshark and capinfos; together they hold tcpdump's frames, once each, in order
    ours = []
    for f in files:
        one = rows(f, broker.port)
        assert capinfos_count(f) == len(one)
        ours += one
    assert len(ours) == len(ref_rows) >= 2 * 240  # each PUBLISH and its PUBACK at least
    assert collections.Counter(map(without_time, ours)) == collections.Counter(map(without_time, ref_rows))
    assert per_direction(ours) == per_direction(ref_rows)  # the files follow each other in capture order
    assert f"{len(ours)} packets written to {len(files)} files, {files[0]} … {files[-1]}" in err


def test_files_n_keeps_the_newest(tmp_path):
    """files:3: only the three files with the highest numbers stay, and they hold the end of the capture."""
    with start_broker(tmp_path) as broker:
        expr = f"tcp dst port {broker.port}"  # one direction of one connection: one order for both captures
        ref = Tcpdump("lo", expr, tmp_path / "ref.pcap")
        live = Live("-i", "lo", "-f", expr, "-w", str(tmp_path / "out.pcapng"), "-b", "filesize:10", "-b", "files:3")
        try:
            publish(broker.port, 120, [700, 1300, 40])
            time.sleep(0.5)
        finally:
            rc, _out, err = live.stop()
            ref.stop()
            ref_rows = rows(ref.path)
    assert rc == 0, err
    files = ring_files(tmp_path)
    total = int(re.search(r"written to (\d+) files", err)[1])
    assert total >= 7, err
    assert [int(NAME.match(f.name)["num"]) for f in files] == [total - 2, total - 1, total]
    kept = [r for f in files for r in rows(f)]
    assert f"{len(ref_rows)} packets written to {total} files" in err  # none lost (tcpdump's count)
    assert [without_time(r) for r in kept] == [without_time(r) for r in ref_rows[-len(kept) :]]
    assert f"{len(ref_rows)} packets written to {total} files, the 3 newest kept ({len(kept)} packets)" in err


def test_packets_n_rotation(tmp_path):
    with start_broker(tmp_path) as broker:
        expr = f"tcp dst port {broker.port}"
        ref = Tcpdump("lo", expr, tmp_path / "ref.pcap")
        live = Live("-i", "lo", "-f", expr, "-w", str(tmp_path / "out"), "-b", "packets:7", "--no-ui")
        try:
            publish(broker.port, 30, [100])
            time.sleep(0.5)
        finally:
            rc, out, err = live.stop()
            ref.stop()
            ref_rows = rows(ref.path)
    assert rc == 0, err
    files = ring_files(tmp_path)
    assert all(NAME.match(f.name)["suffix"] == "" for f in files)  # -w out: no suffix, as dumpcap
    counts = [capinfos_count(f) for f in files]
    assert counts[:-1] == [7] * (len(files) - 1) and 1 <= counts[-1] <= 7
    assert sum(counts) == len(ref_rows) == len(out.splitlines())  # and the summary lines printed each one


# -- rotation by time ------------------------------------------------------------------------------


def test_duration_rotation_also_when_idle(tmp_path):
    """duration:1: a file per second, even while nothing arrives (as dumpcap), each spanning at most ~1 s."""
    with start_broker(tmp_path) as broker:
        expr = f"tcp dst port {broker.port}"
        ref = Tcpdump("lo", expr, tmp_path / "ref.pcap")
        live = Live("-i", "lo", "-f", expr, "-w", str(tmp_path / "out.pcapng"), "-b", "duration:1", "-q")
        t0 = time.monotonic()
        try:
            time.sleep(2.3)  # idle: two switches with no frame at all
            publish(broker.port, 25, [200], pause=0.1)  # ~2.5 s of traffic
            time.sleep(0.3)  # the connection's last segments
        finally:
            rc, _out, err = live.stop()
            elapsed = time.monotonic() - t0
            ref.stop()
            ref_rows = rows(ref.path)
    assert rc == 0, err
    files = ring_files(tmp_path)
    assert int(elapsed) <= len(files) <= int(elapsed) + 2, [f.name for f in files]
    per_file = [rows(f) for f in files]
    assert per_file[0] == [] and per_file[1] == []  # the idle seconds' files: empty, valid captures
    for one in per_file:
        if one:
            assert float(one[-1][0]) - float(one[0][0]) < 1.1
    opened = [stamp_of(f) for f in files]
    assert all(0 <= b - a <= 2 for a, b in zip(opened, opened[1:], strict=False))
    assert [without_time(r) for one in per_file for r in one] == [without_time(r) for r in ref_rows]


def test_interval_switches_on_the_clocks_multiples(tmp_path):
    """interval:1: each file after the first opens on a whole second and holds that second's frames."""
    with start_broker(tmp_path) as broker:
        expr = f"tcp dst port {broker.port}"
        live = Live("-i", "lo", "-f", expr, "-w", str(tmp_path / "out.pcapng"), "-b", "interval:1", "-q")
        try:
            publish(broker.port, 30, [50], pause=0.1)
            time.sleep(0.3)
        finally:
            rc, _out, err = live.stop()
    assert rc == 0, err
    files = ring_files(tmp_path)
    assert len(files) >= 3
    opened = [stamp_of(f) for f in files[1:]]
    assert opened == [opened[0] + k for k in range(len(opened))]  # consecutive whole seconds
    for f in files[1:-1]:
        for r in rows(f):
            # the frame's second is the file's, but for a batch that left the kernel as it switched
            assert stamp_of(f) - 0.25 <= float(r[0]) < stamp_of(f) + 1.25, (f.name, r[0])


# -- names, sources, keys, faults ------------------------------------------------------------------


def test_names_are_dumpcaps(tmp_path):
    """The names dumpcap itself gives for the same -w paths (its time stamp aside)."""
    dumpcap = require_tool("dumpcap")
    # (not ".hidden": dumpcap 4.0 writes DIR/.hidden's files as DIR_00001_...hidden, beside DIR; newer
    # dumpcaps and mqttsniff write DIR/_00001_...hidden)
    paths = ["out.pcapng", "out", "dir.d/out", "a.b.c"]

    def names(root: Path, argv0: list[str], extra: list[str]) -> list[str]:
        (root / "dir.d").mkdir(parents=True)
        procs = [
            subprocess.Popen(
                [*argv0, "-i", "lo", "-f", "tcp port 9", "-w", str(root / p), "-b", "filesize:100", *extra],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=REPO,
            )
            for p in paths
        ]
        for p in procs:
            assert p.wait(30) == 0, p.stderr.read()
        found = [str(f.relative_to(root)) for f in root.rglob("*") if f.is_file()]
        return sorted(re.sub(r"_\d{14}", "_STAMP", n) for n in found)

    theirs = names(tmp_path / "dumpcap", [dumpcap], ["-a", "duration:1", "-q"])
    ours = names(tmp_path / "ours", CMD, ["-a", "duration:1", "-q"])
    assert ours == theirs
    assert "out_00001_STAMP.pcapng" in ours and "dir.d/out_00001_STAMP" in ours


def test_several_sources_every_file_has_each_interface(tmp_path):
    """-i lo -i any: the merged capture's files each carry both Interface Description Blocks."""
    with start_broker(tmp_path) as broker:
        expr = f"tcp dst port {broker.port}"
        out = tmp_path / "out.pcapng"
        live = Live("-i", "lo", "-i", "any", "-f", expr, "-w", str(out), "-b", "filesize:8", "-q")
        try:
            publish(broker.port, 60, [400, 1000])
            time.sleep(0.6)
        finally:
            rc, _out, err = live.stop()
    assert rc == 0, err
    files = ring_files(tmp_path)
    assert len(files) >= 4
    tshark = require_tool("tshark")
    seen = collections.Counter()
    for f in files:
        info = subprocess.run([require_tool("capinfos"), "-I", str(f)], capture_output=True, text=True).stdout
        assert re.search(r"Number of interfaces in file: 2", info), info
        names = subprocess.run(
            [tshark, "-r", str(f), "-T", "fields", "-e", "frame.interface_name"], capture_output=True, text=True
        ).stdout.split()
        seen.update(names)
    # each packet to the broker once from each source
    assert seen["lo"] == seen["any"] >= 60
    assert f"{seen['lo'] * 2} packets written to {len(files)} files" in err


@pytest.fixture
def silent_interface():
    """One end of a veth pair of the test's own, up, with no TCP on it: a second source that adds no frame."""
    ip = require_tool("ip")
    name = f"ringv{os.getpid() % 10000}"
    subprocess.run([ip, "link", "add", name, "type", "veth", "peer", "name", f"{name}p"], check=True)
    try:
        for end in (name, f"{name}p"):
            subprocess.run([ip, "link", "set", end, "up"], check=True)
        yield name
    finally:
        subprocess.run([ip, "link", "del", name], check=False)


@pytest.mark.parametrize("sources", ["one", "two"])
def test_each_file_carries_the_tls_keys_so_far(tmp_path, sources, request):
    """With a key log, every file starts with the keys logged before it opened, and the file holding a
    session opens decrypted in tshark with no key log of its own. Three TLS 1.3 sessions, each started
    just after a switch (duration:2), so each lies in a file of its own. The same with two sources (the
    merged writer), the second a silent veth."""
    import tls_helpers as T

    keylog = tmp_path / "keys.log"
    keylog.write_text("")
    tshark = require_tool("tshark")
    interfaces = ["-i", "lo"]
    if sources == "two":
        interfaces += ["-i", request.getfixturevalue("silent_interface")]
    with T.tls_broker(tmp_path) as (port, ca):
        live = Live(
            *interfaces, "-f", f"tcp port {port}", "--tls-keylog", str(keylog), "-w", str(tmp_path / "out.pcapng"),
            "-b", "duration:2", "-q",
        )  # fmt: skip
        try:
            for k in range(3):
                deadline = time.monotonic() + 10
                while len(ring_files(tmp_path)) < 2 + k and time.monotonic() < deadline:
                    time.sleep(0.01)  # the next file is open: the session goes there
                ctx = T.client_context(ca, keylog, "1.3")
                assert T.paho_session(port, ctx, f"ring-{k}", T.TOPICS) == len(T.TOPICS)
            time.sleep(0.3)
        finally:
            rc, _out, err = live.stop()
    assert rc == 0, err
    files = ring_files(tmp_path)
    logged = keylog.read_bytes()
    sessions = 0
    for f in files:
        keys = secrets_in(f)
        assert logged.startswith(keys), f.name  # the log's lines so far, in order
        res = subprocess.run(
            [tshark, "-r", str(f), "-d", f"tcp.port=={port},tls", "-d", f"tls.port=={port},mqtt", "-T", "fields",
             "-e", "mqtt.msgtype"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        types = collections.Counter(t for ln in res.stdout.split() for t in ln.split(","))
        if types:
            sessions += 1
            # the session's CONNECT and its 8 PUBLISHes, decrypted; the keys of every session so far
            assert types["1"] == 1 and types["3"] == 8, (f.name, types)
            assert keys.count(b"CLIENT_TRAFFIC_SECRET_0") == sessions, f.name
    assert sessions == 3


def test_a_new_file_carries_the_newest_mib_of_keys(tmp_path):
    """A key log of 2 MiB (a long capture's worth): the file being written when it is read gets it all,
    each next file starts with the newest whole lines up to 1 MiB, not with every key ever logged."""
    keylog = tmp_path / "keys.log"
    lines = [f"CLIENT_RANDOM {os.urandom(32).hex()} {os.urandom(48).hex()}\n".encode() for _ in range(12000)]
    keylog.write_bytes(b"".join(lines))
    assert keylog.stat().st_size > 2 << 20
    out = tmp_path / "out.pcapng"
    res = subprocess.run(
        [*CMD, "-i", "lo", "-f", "tcp port 9", "--tls-keylog", str(keylog), "-w", str(out), "-b", "duration:0.5"]
        + ["-a", "duration:1.8", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    files = ring_files(tmp_path)
    assert len(files) >= 3
    assert secrets_in(files[0]) == keylog.read_bytes()
    tail = b"".join(lines[-((1 << 20) // len(lines[0])) :])
    for f in files[1:]:
        assert secrets_in(f) == tail, f.name


def test_disk_full_one_line_and_every_file_opens(tmp_path):
    """A 64 KiB tmpfs fills up mid-file: one line, exit 1, every file a valid capture; with files:2 the
    same traffic fits, since the ring never keeps more than two 20 kB files."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    try:
        with start_broker(tmp_path) as broker:
            expr = f"tcp dst port {broker.port}"
            live = Live("-i", "lo", "-f", expr, "-w", str(mnt / "full.pcapng"), "-b", "filesize:20", "-q")
            try:
                publish(broker.port, 120, [1200])
                time.sleep(0.3)
            finally:
                rc, _out, err = live.stop()
            assert rc == 1, err
            problems = [ln for ln in err.splitlines() if ln.startswith("mqttsniff: writing")]
            assert len(problems) == 1 and "No space left on device" in problems[0], err
            assert "Traceback" not in err
            files = ring_files(mnt, "full")
            assert len(files) >= 3
            written = sum(len(rows(f)) for f in files)
            assert f"{written} packets written to {len(files)} files" in err
            for f in files:
                f.unlink()
            live = Live("-i", "lo", "-f", expr, "-w", str(mnt / "ring.pcapng"), "-b", "filesize:20", "-b", "files:2")
            try:
                publish(broker.port, 120, [1200])
                time.sleep(0.3)
            finally:
                rc, _out, err = live.stop()
            assert rc == 0, err
            assert len(ring_files(mnt, "ring")) == 2
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_kill_9_every_file_opens_and_holds_its_frames(tmp_path):
    """A ring being written survives a crash like the single -w file: after kill -9, every file opens
    in tshark, the one being written included, and together they hold every frame sent more than a
    second before the kill."""
    with start_broker(tmp_path) as broker:
        expr = f"tcp dst port {broker.port}"
        ref = Tcpdump("lo", expr, tmp_path / "ref.pcap")
        live = Live("-i", "lo", "-f", expr, "-w", str(tmp_path / "out.pcapng"), "-b", "filesize:15", "-q")
        try:
            publish(broker.port, 80, [900, 30])
            time.sleep(1.5)  # everything above is now more than a second old
            live.proc.kill()
            live.proc.wait(timeout=10)
        finally:
            if live.proc.poll() is None:
                live.proc.kill()
            ref.stop()
    files = ring_files(tmp_path)
    assert len(files) >= 3
    ours = [without_time(r) for f in files for r in rows(f)]
    assert ours == [without_time(r) for r in rows(ref.path)]


@pytest.mark.parametrize(
    "args, words",
    [
        (["-b", "filesize:10"], "-w FILE"),
        (["-b", "filesize:10", "-w", "-"], "-w -"),
        (["-b", "files:3", "-w", "OUT"], "nothing switches"),
        (["-b", "filesize:x", "-w", "OUT"], "'filesize:x'"),
        (["-b", "filesize:0", "-w", "OUT"], "'filesize:0'"),
        (["-b", "filesize:-5", "-w", "OUT"], "'filesize:-5'"),
        (["-b", "duration:0", "-w", "OUT"], "'duration:0'"),
        (["-b", "interval:soon", "-w", "OUT"], "'interval:soon'"),
        (["-b", "foo:1", "-w", "OUT"], "'foo:1'"),
        (["-b", "filesize", "-w", "OUT"], "'filesize'"),
        (["-b", "files:0", "-b", "filesize:10", "-w", "OUT"], "'files:0'"),
    ],
)
def test_bad_ring_options_one_line_exit_1(tmp_path, args, words):
    args = [str(tmp_path / "out.pcapng") if a == "OUT" else a for a in args]
    res = subprocess.run([*CMD, "-i", "lo", *args], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mqttsniff: ") and words in lines[0], res.stderr
    assert not list(tmp_path.iterdir())  # nothing opened, nothing written
