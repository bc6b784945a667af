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


FIELDS = (
    "frame.number",
    "mqtt.msgtype",
    "tcp.segment.count",
    "mqtt.ver",
    "ipv6.src",
    "mqtt.qos",
    "mqtt.property.topic_alias",
    "tcp.analysis.flags",
    "tcp.flags.reset",
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[dict[str, str]], str]:
    """One generated file, read by tshark twice: every frame's fields, and the expert summary."""
    out = tmp_path_factory.mktemp("gen") / "mix.pcap"
    # more large payloads and some IPv6 than the default, so a small file exercises everything
    log = _gen(
        out, "--frames", str(FRAMES), "--clients", "40", "--seed", "7", "--ipv6-share", "0.3", "--large-share", "0.03"
    )
    args = ["-T", "fields", "-E", "occurrence=a"]
    for f in FIELDS:
        args += ["-e", f]
    rows = [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in _tshark(out, *args).splitlines()]
    return out, log, rows, _tshark(out, "-q", "-z", "expert")


def _reported_counts(log: str) -> Counter[int]:
    return Counter({int(t): int(n) for t, n in re.findall(r"^\s+(\d+) \S+\s+(\d+)$", log, re.M)})


def test_exact_frame_count_and_report(generated: tuple) -> None:
    _, log, rows, _ = generated
    assert f"frames: {FRAMES}" in log
    assert len(rows) == FRAMES


def test_pdu_counts_match_tshark(generated: tuple) -> None:
    _, log, rows, _ = generated
    ours = _reported_counts(log)
    assert set(ours) == set(range(1, 15)), "every 3.1.1/5 type except AUTH appears"
    theirs = Counter(int(x) for r in rows if r["mqtt.msgtype"] for x in r["mqtt.msgtype"].split(","))
    assert theirs == ours
    assert f"mqtt pdus: {sum(ours.values())}" in log


def test_capture_is_clean_in_tshark(generated: tuple) -> None:
    _, _, rows, expert = generated
    assert "Errors" not in expert, expert  # no malformed packets, no bad checksums
    warns = expert.split("Warns", 1)[1].split("Notes", 1)[0] if "Warns" in expert else ""
    summaries = [ln for ln in warns.splitlines()[3:] if ln.strip()]
    # RSTs are generated on purpose (about 5% of closes); nothing else may warn
    assert all(ln.rstrip().endswith("Connection reset (RST)") for ln in summaries), warns
    flagged = [r["frame.number"] for r in rows if r["tcp.analysis.flags"] and r["tcp.flags.reset"] != "1"]
    assert flagged == []
    assert "Unknown topic alias" not in expert


def test_capture_has_the_advertised_shapes(generated: tuple) -> None:
    _, _, rows, _ = generated
    mq = [r for r in rows if r["mqtt.msgtype"]]
    assert any(len(r["mqtt.msgtype"].split(",")) >= 3 for r in mq), "several PDUs coalesced in one segment"
    assert max(int(r["tcp.segment.count"] or 0) for r in mq) >= 40, "a PDU spanning dozens of segments"
    assert {"4", "5"} <= {r["mqtt.ver"] for r in mq}, "MQTT 3.1.1 and 5 both present"
    assert any(r["ipv6.src"] for r in mq), "IPv6 clients present"
    qos = Counter(q for r in mq for q in r["mqtt.qos"].split(",") if q)
    assert all(qos[q] > 0 for q in ("0", "1", "2"))
    assert any(r["mqtt.property.topic_alias"] for r in mq), "MQTT 5 topic aliases in use"


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
