"""Extreme pcapng timestamps: shown as tshark shows them ("Not representable" past time_t), never a crash.

The pcapng files are written here by hand: the interface block's if_tsresol option (whole seconds)
is what makes a 64-bit tick count reach the limits of time_t; the generator's writer has no such option.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from sniffer.synth.flows import TcpFlow
from sniffer.synth.pcap_write import FrameList

TIME_FIELDS = ("frame.time", "frame.time_epoch", "frame.time_relative", "frame.time_delta")
EXTREME_TICKS = (1, 2**62, 2**40, 2**64 - 1, 2**63)


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def pcapng(frames: list[tuple[int, bytes]], tsresol: int | None) -> bytes:
    """A one-interface pcapng; each frame's timestamp is a raw 64-bit tick count."""
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b""
    if tsresol is not None:  # if_tsresol (code 9), one byte, then opt_endofopt
        opts = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
    out = shb + _block(1, struct.pack("<HHI", 1, 0, 262144) + opts)
    for ticks, fr in frames:
        out += _block(6, struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(fr), len(fr)) + fr)
    return out


def tcp_frames(n: int) -> list[bytes]:
    fl = FrameList()
    flow = TcpFlow(fl)
    t = flow.open(0)
    while fl.frames < n:
        t = flow.send(0, b"x" * 10, t + 1000)
    return [fr for _ts, fr in fl.frames_list[:n]]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sniffer", *args], capture_output=True, text=True, cwd=REPO)


@pytest.fixture
def extreme(tmp_path: Path) -> Path:
    path = tmp_path / "extreme.pcapng"
    path.write_bytes(pcapng(list(zip(EXTREME_TICKS, tcp_frames(len(EXTREME_TICKS)), strict=True)), tsresol=0))
    return path


def _exact_in_float(text: str) -> bool:
    # Our times are floats: a value past 2^53 s is rounded, so it is compared only where it is exact.
    return abs(float(text)) < 2**53


def test_time_fields_match_tshark_with_whole_second_resolution(extreme: Path, tshark: str) -> None:
    args = ["-T", "fields"] + [a for f in ("frame.number", *TIME_FIELDS) for a in ("-e", f)]
    ours = run("-r", str(extreme), *args)
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run([tshark, "-r", str(extreme), *args], capture_output=True, text=True, check=True).stdout
    rows, ref = ours.stdout.splitlines(), theirs.splitlines()
    assert len(rows) == len(ref) == len(EXTREME_TICKS)
    assert any("Not representable" in r for r in ref)  # the file does reach past time_t
    for mine, want in zip(rows, ref, strict=True):
        m, w = mine.split("\t"), want.split("\t")
        assert m[:3] == w[:3]  # number, frame.time (or "Not representable"), frame.time_epoch
        for a, b in zip(m[3:], w[3:], strict=True):
            if _exact_in_float(b):
                assert a == b


def test_verbose_and_json_carry_on(extreme: Path, tshark: str) -> None:
    res = run("-r", str(extreme), "-V")
    assert res.returncode == 0 and "internal error" not in res.stderr, res.stderr
    arrival = [ln.strip() for ln in res.stdout.splitlines() if ln.startswith("    Arrival Time:")]
    ref = subprocess.run([tshark, "-r", str(extreme), "-V"], capture_output=True, text=True, check=True).stdout
    assert arrival == [ln.strip() for ln in ref.splitlines() if ln.startswith("    Arrival Time:")]

    res = run("-r", str(extreme), "-T", "json")
    assert res.returncode == 0, res.stderr
    ref_json = subprocess.run([tshark, "-r", str(extreme), "-T", "json"], capture_output=True, text=True, check=True)
    ours, theirs = json.loads(res.stdout), json.loads(ref_json.stdout)
    assert [p["_index"] for p in ours] == [p["_index"] for p in theirs]
    for o, t in zip(ours, theirs, strict=True):
        fo, ft = o["_source"]["layers"]["frame"], t["_source"]["layers"]["frame"]
        assert (fo["frame.time"], fo["frame.time_epoch"]) == (ft["frame.time"], ft["frame.time_epoch"])


def test_microsecond_resolution_top_ticks(tmp_path: Path, tshark: str) -> None:
    """2^64-1 µs is year 586524: representable, and shown (float rounding aside) as tshark shows it."""
    path = tmp_path / "us.pcapng"
    path.write_bytes(pcapng(list(zip((1, 2**64 - 1), tcp_frames(2), strict=True)), tsresol=None))
    res = run("-r", str(path), "-T", "fields", "-e", "frame.time")
    assert res.returncode == 0, res.stderr
    ref = subprocess.run([tshark, "-r", str(path), "-T", "fields", "-e", "frame.time"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    # to the second: below it a double cannot hold 2^64 µs exactly
    assert [r.split(".")[0] for r in res.stdout.splitlines()] == [r.split(".")[0] for r in ref.splitlines()]
