"""Stopping a live capture from outside: SIGINT, SIGTERM and SIGHUP at any moment, and a closed pipe.

A real mosquitto gets a steady stream of PUBLISHes from a paho client for the whole module; mqttsniff
captures them on `lo` and is stopped at varied moments: as soon as its handlers are installed (before
it says it is capturing), right after it says so, and later. Every run must flush its output, keep
the -w file whole, print the counts and exit 0 (as tcpdump does). Under the UI (in tmux), SIGTERM
and SIGHUP must leave the terminal as it was. A closed stdout (`| head -1`) is one line and exit 1.
"""

from __future__ import annotations

import itertools
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from capture_helpers import Tmux, needs_root, packets
from conftest import REPO, require_tool, start_broker

pytestmark = needs_root
CMD = [sys.executable, "-m", "sniffer"]
BROKEN_PIPE = "mqttsniff: output closed (broken pipe)"
SUMMARY = re.compile(
    r"^(\d+) packets? captured\n(\d+) packets? received by filter\n(\d+) packets? dropped by kernel\n"
    r"(\d+) packets? dropped by mqttsniff \(queue full\)$",
    re.M,
)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    """A broker port with a paho client publishing on it every 5 ms until the module ends."""
    import paho.mqtt.client as mqtt

    with start_broker(tmp_path_factory.mktemp("broker")) as broker:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="signals-test", protocol=mqtt.MQTTv311)
        client.connect("127.0.0.1", broker.port, keepalive=30)
        client.loop_start()
        done = threading.Event()

        def publish() -> None:
            for i in itertools.count():
                if done.wait(0.005):
                    return
                client.publish(f"sig/{i % 7}", f"reading {i}".encode(), qos=i % 2)

        t = threading.Thread(target=publish, daemon=True)
        t.start()
        try:
            yield broker.port
        finally:
            done.set()
            t.join(5)
            client.disconnect()
            client.loop_stop()


def _caught(pid: int) -> int:
    """The process's caught-signal mask (SigCgt in /proc/PID/status), 0 once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(re.search(r"^SigCgt:\s*([0-9a-f]+)$", status, re.M).group(1), 16)


def _wait_for_handlers(proc: subprocess.Popen) -> None:
    """Until mqttsniff catches SIGTERM and SIGHUP (it installs them before anything slow)."""
    want = (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGHUP - 1))
    deadline = time.monotonic() + 20
    while _caught(proc.pid) & want != want:
        assert proc.poll() is None, f"mqttsniff exited with {proc.returncode} before catching SIGTERM/SIGHUP"
        assert time.monotonic() < deadline, "mqttsniff never caught SIGTERM and SIGHUP"
        time.sleep(0.001)


def _wait_for_start(proc: subprocess.Popen) -> bytes:
    err = b""
    deadline = time.monotonic() + 20
    while b"capturing on" not in err:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, f"mqttsniff exited before capturing: {err.decode(errors='replace')}"
            err += chunk
        assert time.monotonic() < deadline, err.decode(errors="replace")
    return err


def tshark_count(path: Path) -> int:
    res = subprocess.run([require_tool("tshark"), "-r", str(path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"tshark cannot read {path}: {res.stderr}"
    return len(res.stdout.splitlines())


# when: "handlers" = as soon as they are installed (usually before "capturing on"), a number = seconds
# after "capturing on" (0: at once).
WHEN = ["handlers", 0.0, "handlers", 0.01, 0.05, "handlers", 0.2, 0.0, 0.5, 0.1]
MODES = ["summary", "write", "fields", "summary", "fields", "write", "summary"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_stop_signal_always_ends_cleanly_with_the_counts(traffic: int, tmp_path: Path, sig: signal.Signals) -> None:
    for run in range(20):
        when, mode = WHEN[run % len(WHEN)], MODES[run % len(MODES)]
        what = f"run {run}: {sig.name} at {when!r}, {mode}"
        args = ["-i", "lo", "-f", f"tcp port {traffic}", "-d", f"tcp.port=={traffic},mqtt", "--no-ui"]
        out = tmp_path / f"run{run}.pcapng"
        if mode == "write":
            args += ["-w", str(out)]
        elif mode == "fields":
            args += ["-T", "fields", "-e", "frame.number", "-e", "mqtt.topic"]
        proc = subprocess.Popen([*CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
        try:
            if when == "handlers":
                _wait_for_handlers(proc)
            else:
                _wait_for_start(proc)
                time.sleep(when)
            proc.send_signal(sig)
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = stderr.decode(errors="replace")
        assert proc.returncode == 0, f"{what}: exit {proc.returncode}\n{err}"
        assert "Traceback" not in err, f"{what}\n{err}"
        m = SUMMARY.search(err)
        assert m, f"{what}: no counts\n{err}"
        captured, queue_dropped = int(m.group(1)), int(m.group(4))
        lines = stdout.decode().splitlines()
        assert len(lines) == captured - queue_dropped, f"{what}: {len(lines)} lines printed\n{err}"
        if mode == "fields":  # flushed up to the last frame, none lost in between
            assert [ln.split("\t")[0] for ln in lines] == [str(i) for i in range(1, len(lines) + 1)], what
        if mode == "write":
            assert f"{packets(captured)} written to {out}" in err, f"{what}\n{err}"
            assert tshark_count(out) == captured, what
        if when != "handlers" and when >= 0.2:
            assert captured > 0, f"{what}: the publisher's traffic was not captured\n{err}"


# -- a closed pipe -----------------------------------------------------------------------------------


def test_live_output_into_head_says_the_pipe_closed(traffic: int, tmp_path: Path) -> None:
    out = tmp_path / "head.pcapng"
    cmd = (
        f"{sys.executable} -m sniffer -i lo -f 'tcp port {traffic}' -T fields -e frame.number -e mqtt.topic"
        f" -w {out} 2>{tmp_path / 'err'} | head -1"
    )
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=REPO, timeout=60)
    err = (tmp_path / "err").read_text()
    assert res.stdout.startswith("1\t") and res.stdout.count("\n") == 1, res.stdout
    assert res.returncode == 1, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith("mqttsniff: capturing on lo")
    assert lines[-1] == BROKEN_PIPE, err
    m = SUMMARY.search(err)
    assert m, err
    captured = int(m.group(1))
    assert f"{captured} packets written to {out}" in err
    assert tshark_count(out) == captured >= 2


def test_reading_a_file_into_head_says_the_pipe_closed(tmp_path: Path) -> None:
    from sniffer.synth.pcap_write import PcapWriter
    from sniffer.synth.traffic import generate

    big = tmp_path / "big.pcap"  # more output than a pipe holds, in every format
    with PcapWriter(str(big)) as sink:
        generate(sink, 5000, clients=20, seed=11)
    for extra in ([], ["-V", "-x"], ["-T", "fields", "-e", "frame.number"], ["-T", "json"]):
        cmd = f"{sys.executable} -m sniffer -r {big} {' '.join(extra)} | head -1"
        res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=REPO)
        assert res.stdout.count("\n") == 1, (extra, res.stdout)
        assert res.returncode == 1, (extra, res.stderr)
        assert res.stderr.splitlines() == [BROKEN_PIPE], (extra, res.stderr)


# -- under the UI ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_stop_signal_under_the_ui_restores_the_terminal(traffic: int, tmp_path: Path, sig: signal.Signals) -> None:
    pidfile, script = tmp_path / "pid", tmp_path / "run.sh"
    # exec: the pid is mqttsniff's. Textual draws on stderr, so the counts printed after the UI has
    # gone are on the terminal too; then the terminal's own modes, as the shell finds them.
    script.write_text(
        f"cd {REPO}\nexport PYTHONPATH={REPO}\n"
        f'sh -c \'echo $$ > {pidfile}; exec {sys.executable} -m sniffer -i lo -f "tcp port {traffic}"'
        f" -d tcp.port=={traffic},mqtt'\n"
        "echo EXITED $?\n"
        "echo TTY $(stty -a | tr ' ;' '\\n\\n' | grep -x -e -echo -e echo -e -icanon -e icanon)\n"
        "sleep 60\n"
    )
    cmd = f"sh {script}"
    t = Tmux(cmd, "mqttsniff-signals")
    try:
        t.wait_for(lambda s: "capturing" in s and "Publish Message" in s)
        assert t.pane("#{alternate_on}") == "1"  # the UI is up, on the alternate screen
        os.kill(int(pidfile.read_text()), sig)
        screen = t.wait_for(lambda s: "EXITED" in s)
        assert "EXITED 0" in screen, t.history()
        assert "Traceback" not in screen, screen
        assert SUMMARY.search("\n".join(ln.rstrip() for ln in screen.splitlines())), screen
        # the terminal is back: main screen, no mouse reporting, cursor shown, keys echo again
        assert t.pane("#{alternate_on}|#{mouse_any_flag}|#{mouse_sgr_flag}|#{cursor_flag}") == "0|0|0|1"
        assert "TTY icanon echo" in t.wait_for(lambda s: "TTY" in s), screen
    finally:
        t.close()


def test_autostop_under_the_ui_is_checked_and_honoured(traffic: int, tmp_path: Path) -> None:
    """-a duration:S under the UI: a bad one is a usage error, a good one stops the capture (it was ignored)."""
    script = tmp_path / "run.sh"
    live = f"{sys.executable} -m sniffer -i lo -f 'tcp port {traffic}'"
    script.write_text(
        f"cd {REPO}\nexport PYTHONPATH={REPO}\n"
        f"{live} -a duration:soon 2>{tmp_path / 'bad'}; echo $? >>{tmp_path / 'bad'}\n"  # stdout: the terminal
        f"{live} -a duration:1; echo EXITED $?\nsleep 60\n"
    )
    t = Tmux(f"sh {script}", "mqttsniff-signals")
    try:
        t.wait_for(lambda s: "capturing" in s)
        assert (tmp_path / "bad").read_text() == "mqttsniff: bad -a 'duration:soon': expected duration:SECONDS\n2\n"
        t.wait_for(lambda s: " stopped │ lo │" in s, timeout=10)  # the capture ended, the UI stays
        t.tmux("send-keys", "-t", "t", "q")
        t.wait_for(lambda s: "not saved" in s)
        t.tmux("send-keys", "-t", "t", "y")
        screen = t.wait_for(lambda s: "EXITED" in s)
        assert "EXITED 0" in screen and SUMMARY.search(screen), t.history()
    finally:
        t.close()
