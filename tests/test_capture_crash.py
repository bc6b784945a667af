"""A capture being written survives a crash: after `kill -9`, the -w file opens in tshark and
holds every frame captured more than a second before the kill."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
from pathlib import Path

from capture_helpers import Tcpdump, flow_key, needs_root
from conftest import REPO, require_tool


@needs_root
def test_kill_9_loses_at_most_the_last_second(mosquitto_broker, tmp_path: Path, tshark: str) -> None:
    pub = require_tool("mosquitto_pub")
    port = mosquitto_broker.port
    out = tmp_path / "crash.pcapng"
    expr = f"tcp port {port}"
    ref = Tcpdump("lo", expr, tmp_path / "ref.pcap")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sniffer", "-i", "lo", "-f", expr, "-w", str(out), "--no-ui", "-T", "fields"]
        + ["-e", "frame.number"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
        text=True,
    )
    try:
        assert "capturing on lo" in proc.stderr.readline()
        for i in range(20):
            subprocess.run([pub, "-p", str(port), "-t", f"crash/{i}", "-m", "x" * (i * 50), "-q", "1"], check=True)
        time.sleep(1.5)  # everything above is now more than a second old
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    expected = ref.stop()
    assert len(expected) >= 20 * 8, "tcpdump saw the 20 sessions"
    res = subprocess.run(
        [tshark, "-r", str(out), "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "frame.len"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert "cut short" not in res.stderr
    # Every frame, in order within each direction (the two ends of a connection, on two CPUs, may
    # reach tcpdump and us in different orders).
    ours = collections.defaultdict(list)
    for line in res.stdout.splitlines():
        sport, dport, length = (int(x) for x in line.split("\t"))
        ours[sport, dport].append(length)
    ref = collections.defaultdict(list)
    for _ts, data, orig in expected:
        ref[flow_key(data)].append(orig)
    assert ours == ref, "the file holds every frame, in order"
