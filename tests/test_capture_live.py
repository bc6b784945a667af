"""Live capture on lo with real parts: mosquitto, paho clients (3.1.1 and 5.0), tcpdump as reference.

The engine (LiveCapture) must see every frame tcpdump sees, exactly once, in order per direction of each connection,
never truncated, and its -w pcapng file must decode in tshark exactly like tcpdump's capture.
"""

from __future__ import annotations

import collections
import subprocess
import time
from pathlib import Path

import pytest
from capture_helpers import Tcpdump, capture_scenario, flow_key, needs_root, run_scenario, tshark_fields
from conftest import start_broker

pytestmark = needs_root

MQTT_TYPES = {str(t) for t in range(1, 15)}  # CONNECT .. DISCONNECT


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """One scenario, captured at the same time by LiveCapture (with -w) and tcpdump."""
    return capture_scenario(tmp_path_factory.mktemp("live"))


def test_uses_the_mmap_ring(captured):
    assert captured["mode"] == "tpacket_v3"


def test_every_frame_once_like_tcpdump(captured):
    ours = [(data, orig) for _ts, _lt, data, orig in captured["frames"]]
    ref = [(data, orig) for _ts, data, orig in captured["ref"]]
    assert len(ref) > 40, captured["tcpdump_stderr"]
    # Same frames, byte for byte, each exactly once (on lo the kernel shows each packet twice).
    assert collections.Counter(ours) == collections.Counter(ref)
    assert len(ours) == len(ref)
    # In order within every direction of every TCP connection. Two senders on two CPUs may
    # interleave differently for two sockets: both ends' FINs of a simultaneous close did in CI.
    by_flow_ours: dict = collections.defaultdict(list)
    by_flow_ref: dict = collections.defaultdict(list)
    for data, _ in ours:
        by_flow_ours[flow_key(data)].append(data)
    for data, _ in ref:
        by_flow_ref[flow_key(data)].append(data)
    assert by_flow_ours == by_flow_ref
    # Timestamps come from the kernel at delivery (each socket stamps its own copy: within a ms).
    for (ts, _lt, data, _), (rts, rdata, _) in zip(captured["frames"], captured["ref"], strict=True):
        if data == rdata:
            assert abs(ts - rts) < 1e-3


def test_big_frames_are_never_truncated(captured):
    big = [(len(d), orig) for _ts, _lt, d, orig in captured["frames"] if orig > 60000]
    assert big, "the 300 KB publish must produce loopback frames of ~64 KiB"
    assert all(n == orig for n, orig in big)


def test_counts_users_can_trust(captured):
    s = captured["stats"]
    assert s.captured == len(captured["frames"]) == s.written
    assert s.kernel_dropped == 0 and s.queue_dropped == 0
    # The kernel counted what passed the filter: the loopback duplicates were rejected in the kernel.
    assert s.kernel_received == s.captured


def test_all_mqtt_exchanges_present(captured, tshark):
    lines = tshark_fields(tshark, captured["file"], captured["port"], ["mqtt.msgtype"])
    seen = {t for line in lines for t in line.split(",") if t}
    assert seen >= MQTT_TYPES, f"missing MQTT packet types: {sorted(MQTT_TYPES - seen, key=int)}"
    obs = captured["observed"]
    assert any(topic == "t/big" and n == obs["big"] for topic, n, _q, _r in obs["a"])
    assert any(topic == "r/keep" and retain for topic, _n, _q, retain in obs["b"])


def test_written_file_decodes_like_tcpdumps(captured, tshark):
    fields = [
        "frame.len",
        "frame.cap_len",
        "tcp.srcport",
        "tcp.dstport",
        "tcp.seq_raw",
        "tcp.ack_raw",
        "tcp.flags",
        "tcp.len",
        "mqtt.msgtype",
        "mqtt.topic",
        "mqtt.msgid",
        "mqtt.qos",
    ]
    ours = tshark_fields(tshark, captured["file"], captured["port"], fields)
    ref = tshark_fields(tshark, captured["ref_file"], captured["port"], fields)
    assert len(ours) == len(captured["frames"])
    assert collections.Counter(ours) == collections.Counter(ref)
    # The file keeps the ring's nanosecond timestamps and names the interface.
    info = subprocess.run(
        [tshark, "-r", str(captured["file"]), "-c", "1", "-T", "fields", "-e", "frame.time_epoch"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert abs(float(info) - captured["frames"][0][0]) < 1e-6


def start_cli(port: int, *args: str) -> tuple[subprocess.Popen, bytes]:
    """`mqttsniff -i lo -f "tcp port PORT" -d tcp.port==PORT,mqtt ARGS`, returned once it is capturing."""
    import os
    import sys

    from conftest import REPO

    cmd = [sys.executable, "-m", "sniffer", "-i", "lo", "-f", f"tcp port {port}", "-d", f"tcp.port=={port},mqtt"]
    proc = subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    err = b""
    while b"capturing on" not in err:
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, err
        err += chunk
    return proc, err


def stop_cli(proc: subprocess.Popen, err: bytes) -> tuple[list[str], str]:
    """Ctrl-C to a start_cli() capture: its lines and whole stderr, once it exited 0."""
    import signal

    proc.send_signal(signal.SIGINT)
    out, rest = proc.communicate(timeout=30)
    err += rest
    assert proc.returncode == 0, err.decode()
    return out.decode().splitlines(), err.decode()


def stream_scenario(port: int, *args: str) -> tuple[list[str], str]:
    """`mqttsniff -i lo ... ARGS` while the scenario runs, stopped by Ctrl-C: its lines (checked to stream
    while the capture runs, not only at exit) and its stderr; it must exit 0."""
    import select
    import signal

    proc, err = start_cli(port, *args)
    try:
        run_scenario(port)
        time.sleep(0.5)
        ready, _, _ = select.select([proc.stdout], [], [], 2)
        assert ready, "no output while capturing"
    finally:
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=30)
    err += rest
    assert proc.returncode == 0, err.decode()
    return out.decode().splitlines(), err.decode()


def test_cli_streams_every_mqtt_packet_like_tshark(tmp_path, tshark):
    """`mqttsniff -i lo -f "tcp port $PORT" -T fields ...` while tcpdump captures the same traffic."""
    fields = ["frame.number", "mqtt.msgtype", "mqtt.topic", "mqtt.msgid", "mqtt.qos", "mqtt.retain"]
    with start_broker(tmp_path) as broker:
        ref = Tcpdump("lo", f"tcp port {broker.port}", tmp_path / "ref.pcap")
        try:
            e = (a for f in fields for a in ("-e", f))
            lines, err = stream_scenario(broker.port, "-w", str(tmp_path / "cli.pcapng"), "-T", "fields", *e)
        finally:
            ref.stop()
    # Every frame, in the order written, decoded as tshark decodes the file we wrote...
    assert lines == tshark_fields(tshark, tmp_path / "cli.pcapng", broker.port, fields)
    # ...and the same frames as tcpdump saw (numbering aside: two connections may interleave differently).
    ref_lines = tshark_fields(tshark, tmp_path / "ref.pcap", broker.port, fields)
    strip = lambda ls: collections.Counter(ln.split("\t", 1)[1] for ln in ls)  # noqa: E731
    assert len(lines) == len(ref_lines) and strip(lines) == strip(ref_lines)
    seen = {t for ln in lines for t in ln.split("\t")[1].split(",") if t}
    assert seen >= MQTT_TYPES
    assert f"{len(lines)} packets captured" in err
    assert "0 packets dropped by kernel" in err and "0 packets dropped by mqttsniff" in err


LIVE_FIELDS = ("frame.number", "frame.time_epoch", "frame.time_relative", "frame.time_delta", "mqtt.msgtype",
               "mqtt.topic", "mqtt.msgid")  # fmt: skip


@pytest.mark.parametrize(
    "out",
    [[], ["-T", "fields", *(a for f in LIVE_FIELDS for a in ("-e", f))]],
    ids=["summary", "fields"],
)
def test_live_lines_from_the_dissector_equal_those_of_the_written_file(tmp_path, tshark, out):
    """The summary and a plain `-T fields` of one local interface come straight from the dissector, a batch of
    lines at a time, as from a file (no Frame per packet): what streams live equals `mqttsniff -r` of the
    -w file, line for line, and its times equal tshark's of that file, to the nanosecond (the kernel stamps
    in ns: tshark shows nine decimals, live as from the file)."""
    import sys

    from conftest import REPO

    with start_broker(tmp_path) as broker:
        live, _err = stream_scenario(broker.port, "-w", str(tmp_path / "cli.pcapng"), *out)
    cmd = [sys.executable, "-m", "sniffer", "-r", str(tmp_path / "cli.pcapng"), "-d", f"tcp.port=={broker.port},mqtt"]
    again = subprocess.run([*cmd, *out], capture_output=True, text=True, cwd=REPO, check=True).stdout.splitlines()
    assert len(live) > 40 and live == again
    if out:
        assert live == tshark_fields(tshark, tmp_path / "cli.pcapng", broker.port, list(LIVE_FIELDS))
        return
    assert any(" MQTT " in ln and "\u2192" in ln for ln in live)
    ref = subprocess.run(
        [tshark, "-r", str(tmp_path / "cli.pcapng"), "-d", f"tcp.port=={broker.port},mqtt"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [ln.split()[:2] for ln in live] == [ln.split()[:2] for ln in ref]  # No., Time
    assert all(len(ln.split()[1].split(".")[1]) == 9 for ln in live)


def test_live_display_filter_prints_what_tshark_matches(tmp_path, tshark):
    """`mqttsniff -i lo -Y EXPR -w F`: only matching frames are printed (numbered as captured), the file keeps all."""

    dfilter = "mqtt.msgtype == 3 || mqtt.msgtype == 8"
    with start_broker(tmp_path) as broker:
        out_file = tmp_path / "y.pcapng"
        proc, err = start_cli(
            broker.port, "-w", str(out_file), "-Y", dfilter, "-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype"
        )
        try:
            run_scenario(broker.port)
            time.sleep(0.5)
        finally:
            lines, _err = stop_cli(proc, err)
    theirs = subprocess.run(
        [tshark, "-r", str(out_file), "-d", f"tcp.port=={broker.port},mqtt", "-Y", dfilter]
        + ["-T", "fields", "-e", "frame.number", "-e", "mqtt.msgtype"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert lines == theirs and len(lines) >= 5
    assert {t for ln in lines for t in ln.split("\t")[1].split(",")} >= {"3", "8"}
    written = int(subprocess.run([tshark, "-r", str(out_file)], capture_output=True, text=True).stdout.count("\n"))
    assert written > len(lines)


def test_any_gives_cooked_frames_like_tcpdump(tmp_path):
    """`-i any`: Linux cooked (SLL) frames, each loopback packet once, byte for byte as tcpdump -y LINUX_SLL."""
    import socket
    import threading

    from sniffer.capture import LiveCapture

    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    expr = f"tcp port {port}"
    ref = Tcpdump("any", expr, tmp_path / "any.pcap", extra=("-y", "LINUX_SLL"))
    cap = LiveCapture("any", expr)
    cap.open()
    cap.start()

    def drain() -> None:
        conn, _ = srv.accept()
        with conn:
            while conn.recv(1 << 20):
                pass

    t = threading.Thread(target=drain)
    t.start()
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.sendall(b"m" * 200_000)
    t.join(10)
    srv.close()
    time.sleep(0.3)
    cap.stop()
    ref_frames = ref.stop()
    frames = [f for batch in cap.batches() for f in batch]
    assert cap.linktype == 113
    assert len(frames) >= 6
    assert collections.Counter((d, o) for _t, _l, d, o in frames) == collections.Counter(
        (d, o) for _t, d, o in ref_frames
    )


def test_live_records_carry_the_kernels_integer_nanoseconds(tmp_path: Path) -> None:
    """A frame saved from the UI's live capture keeps its exact time: the records the UI stores carry the
    kernel's integer nanoseconds (the -w file's stamps), not only the float."""
    from sniffer.capture import LiveCapture
    from sniffer.net.pcapfile import open_capture
    from sniffer.source import LiveSource

    with start_broker(tmp_path) as broker:
        cap = LiveCapture("lo", f"tcp port {broker.port}", write_path=str(tmp_path / "w.pcapng"))
        cap.open()
        source = LiveSource(cap, poll=0.05)
        source.start()
        try:
            run_scenario(broker.port)
            time.sleep(0.5)
        finally:
            cap.request_stop()
        records = [r for batch in source.batches() for r in batch]
        cap.stop()
    assert records and all(len(r) == 6 and r[5] == 9 for r in records)
    reader = open_capture(str(tmp_path / "w.pcapng"))
    reader.exact = True
    written = []
    for _rec in reader:
        written.append((reader.ticks, reader.tsresol))
    assert [(r[4], r[5]) for r in records] == written
    assert all(abs(r[0] - r[4] / 1e9) < 1e-6 for r in records)


def test_the_gil_switch_interval_is_lowered_while_captures_run_and_put_back_after_the_last() -> None:
    """The capture thread gets the interpreter back sooner (0.5 ms) while it runs; the process's own
    setting returns when the last capture ends (a UI or script goes on after it)."""
    import sys

    from sniffer.capture import LiveCapture

    before = sys.getswitchinterval()
    first, second = LiveCapture("lo", "tcp port 9"), LiveCapture("lo", "tcp port 9")
    try:
        first.start()
        assert sys.getswitchinterval() == pytest.approx(0.0005)
        second.start()
        first.stop()
        assert sys.getswitchinterval() == pytest.approx(0.0005)  # the second still captures
    finally:
        first.stop()
        second.stop()
    assert sys.getswitchinterval() == before
