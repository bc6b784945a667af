"""The benchmark capture generator (bench/gen_capture.py, sniffer/synth/traffic.py) checked by tshark."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, require_tool

CHECKS = ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]
FRAMES = 12_000


def _tshark(path: Path, *args: str) -> str:
    cmd = [require_tool("tshark"), "-r", str(path), *CHECKS, *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _gen(out: Path, *args: str) -> str:
    cmd = [sys.executable, str(REPO / "bench" / "gen_capture.py"), str(out), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return res.stderr


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("gen") / "mix.pcap"
    # more large payloads and some IPv6 than the default, so a small file exercises everything
    log = _gen(
        out, "--frames", str(FRAMES), "--clients", "40", "--seed", "7", "--ipv6-share", "0.3", "--large-share", "0.03"
    )
    return out, log


def _reported_counts(log: str) -> Counter[int]:
    return Counter({int(t): int(n) for t, n in re.findall(r"^\s+(\d+) \S+\s+(\d+)$", log, re.M)})


def test_exact_frame_count_and_report(generated: tuple[Path, str]) -> None:
    path, log = generated
    assert f"frames: {FRAMES}" in log
    assert len(_tshark(path, "-T", "fields", "-e", "frame.number").split()) == FRAMES


def test_pdu_counts_match_tshark(generated: tuple[Path, str]) -> None:
    path, log = generated
    ours = _reported_counts(log)
    assert set(ours) == set(range(1, 15)), "every 3.1.1/5 type except AUTH appears"
    out = _tshark(path, "-Y", "mqtt", "-T", "fields", "-e", "mqtt.msgtype")
    theirs = Counter(int(x) for line in out.split() for x in line.split(","))
    assert theirs == ours
    assert f"mqtt pdus: {sum(ours.values())}" in log


def test_capture_is_clean_in_tshark(generated: tuple[Path, str]) -> None:
    path, _ = generated
    expert = _tshark(path, "-q", "-z", "expert")
    assert "Errors" not in expert, expert  # no malformed packets, no bad checksums
    warns = expert.split("Warns", 1)[1].split("Notes", 1)[0] if "Warns" in expert else ""
    summaries = [ln for ln in warns.splitlines()[3:] if ln.strip()]
    # RSTs are generated on purpose (about 5% of closes); nothing else may warn
    assert all(ln.rstrip().endswith("Connection reset (RST)") for ln in summaries), warns
    assert _tshark(path, "-Y", "tcp.analysis.flags && !tcp.flags.reset") == ""


def test_capture_has_the_advertised_shapes(generated: tuple[Path, str]) -> None:
    path, _ = generated
    out = _tshark(
        path,
        "-Y",
        "mqtt",
        "-T",
        "fields",
        "-e",
        "mqtt.msgtype",
        "-e",
        "tcp.segment.count",
        "-e",
        "mqtt.ver",
        "-e",
        "ipv6.src",
    )
    rows = [r.split("\t") for r in out.splitlines()]
    assert any(len(r[0].split(",")) >= 3 for r in rows), "several PDUs coalesced in one segment"
    assert max(int(r[1] or 0) for r in rows) >= 40, "a PDU spanning dozens of segments"
    assert {"4", "5"} <= {r[2] for r in rows if r[2]}, "MQTT 3.1.1 and 5 both present"
    assert any(r[3] for r in rows), "IPv6 clients present"
    qos = Counter(_tshark(path, "-Y", "mqtt.msgtype == 3", "-T", "fields", "-e", "mqtt.qos").split())
    assert all(qos[q] > 0 for q in ("0", "1", "2"))
    props = _tshark(path, "-Y", "mqtt.msgtype == 3 && mqtt.property.topic_alias", "-T", "fields", "-e", "mqtt.topic")
    assert props.strip(), "MQTT 5 topic aliases in use"
    assert "Unknown topic alias" not in _tshark(path, "-q", "-z", "expert")


def test_same_seed_same_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    _gen(a, "--frames", "3000", "--clients", "10", "--seed", "3")
    _gen(b, "--frames", "3000", "--clients", "10", "--seed", "3")
    assert a.read_bytes() == b.read_bytes()


def test_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    cmd = [sys.executable, str(REPO / "bench" / "gen_capture.py"), str(tmp_path / "x.pcap"), "--frames", "5"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 2 and "gen_capture:" in res.stderr and "Traceback" not in res.stderr
    cmd = [sys.executable, str(REPO / "bench" / "gen_capture.py"), "/nonexistent/dir/x.pcap", "--frames", "100"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 1 and res.stderr.count("\n") == 1
