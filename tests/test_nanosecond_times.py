"""Captures stamped finer than the microsecond (dumpcap's and mqttsniff's own pcapng, `tcpdump -j ... --nano`):
every time tshark shows to the nanosecond, mqttsniff shows to the nanosecond, digit for digit.

A float of seconds since 1970 holds only ~0.24 us, so these times are counted in integers beside it
(sniffer.driver.stamp_ns, RowDissector.row_ns). The captures are the public MQTT 5 capture's frames
restamped here with sub-microsecond times chosen to catch any rounding through a float: fractions of
.999999999 and .000000001 s, a half microsecond, a frame older than the one before it.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest
from conftest import REPO, tshark_out
from conftest import sniff_out as run
from test_extreme_timestamps import pcapng

from sniffer.driver import DIGITS, stamp_ns
from sniffer.net.pcapfile import open_capture

CAPTURE = REPO / "tests/captures/mqtt5_publish-qos1_many-properties_mosquitto__suricata-verify.pcap"
BASE_NS = 1_764_000_000 * 10**9  # 2025-11-24, where a float's step is 238 ns
# offsets from BASE_NS in ns, one per frame (cycled): every one of them rounds wrongly through a float
OFFSETS = (123_456_789, 999_999_999, 1_000_000_001, 1_000_000_500, 1_999_999_499, 1_500_000_000, 2_000_000_250,
           2_000_000_249, 3_999_999_999, 4_000_000_000)  # fmt: skip
TIME_FIELDS = ("frame.time", "frame.time_epoch", "frame.time_relative", "frame.time_delta", "_ws.col.Time")
DIRECT = ("frame.number", "frame.time_epoch", "frame.time_relative", "frame.time_delta", "mqtt.msgtype")


def frames() -> list[bytes]:
    reader = open_capture(str(CAPTURE))
    try:
        return [bytes(rec[1]) for rec in reader]
    finally:
        reader.close()


def stamps(n: int) -> list[int]:
    out = [BASE_NS + OFFSETS[i % len(OFFSETS)] + 5 * 10**9 * (i // len(OFFSETS)) for i in range(n)]
    out[3], out[4] = out[4], out[3]  # one frame older than the one before it: a negative delta
    return out


def ns_pcap(path: Path) -> Path:
    """A nanosecond pcap (magic a1b23c4d), as `tcpdump --time-stamp-precision=nano -w` writes."""
    data = frames()
    out = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1)
    for ns, fr in zip(stamps(len(data)), data, strict=True):
        out += struct.pack("<IIII", ns // 10**9, ns % 10**9, len(fr), len(fr)) + fr
    path.write_bytes(out)
    return path


def resol_pcapng(path: Path, tsresol: int) -> Path:
    """A pcapng whose interface counts in 10^-n s (or 2^-n with bit 7): the stamps floored to that unit."""
    data = frames()
    unit = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10**tsresol
    ticks = [ns * unit // 10**9 for ns in stamps(len(data))]
    path.write_bytes(pcapng(list(zip(ticks, data, strict=True)), tsresol))
    return path


# name -> (tsresol, the decimals of tshark 4.0's Time column for it); None: a nanosecond pcap
RESOLUTIONS = {
    "pcap-ns": (None, 9),
    "pcapng-ns": (9, 9),
    "pcapng-100ns": (7, 6),
    "pcapng-2^-30": (0x80 | 30, 9),
    "pcapng-ms": (3, 3),
    "pcapng-2^-10": (0x80 | 10, 3),
    "pcapng-s": (0, 0),
}


@pytest.fixture(params=list(RESOLUTIONS))
def capture(request, tmp_path: Path) -> Path:
    tsresol = RESOLUTIONS[request.param][0]
    if tsresol is None:
        return ns_pcap(tmp_path / "ns.pcap")
    return resol_pcapng(tmp_path / f"{request.param}.pcapng", tsresol)


def test_the_summary_shows_tsharks_time_column(request, capture: Path, tshark: str) -> None:
    """The Time column has the decimals tshark gives the capture's resolution, the rest cut off as tshark
    cuts it (1.8765427 s at 10^-7 s is 1.876542)."""
    ours = run("-r", str(capture)).splitlines()
    theirs = tshark_out(tshark, "-r", str(capture)).splitlines()
    assert len(ours) == len(theirs) > 10
    assert [ln.split()[:2] for ln in ours] == [ln.split()[:2] for ln in theirs]
    assert ours == theirs  # (the whole line: the Time column's width moves the rest along)
    digits = RESOLUTIONS[request.node.callspec.params["capture"]][1]
    assert {len((ln.split()[1] + ".").split(".")[1]) for ln in ours} == {digits}


@pytest.mark.parametrize("fields", [TIME_FIELDS, DIRECT], ids=["tree", "direct"])
def test_time_fields_equal_tsharks_to_the_nanosecond(
    request, capture: Path, tshark: str, fields: tuple[str, ...]
) -> None:
    args = ["-T", "fields", *(a for f in fields for a in ("-e", f))]
    ours = run("-r", str(capture), *args).splitlines()
    assert ours == tshark_out(tshark, "-r", str(capture), *args).splitlines()
    if RESOLUTIONS[request.node.callspec.params["capture"]][1] >= 3:  # (whole seconds stamp frames alike)
        assert any(ln.split("\t")[fields.index("frame.time_delta")].startswith("-") for ln in ours)  # older frame
        assert len(set(ours)) == len(ours)


def test_verbose_json_and_filters_carry_the_nanoseconds(capture: Path, tshark: str) -> None:
    def times(text: str) -> list[str]:
        # the frame's times (tshark's TCP stream times are a preference, off in ours)
        want = re.compile(r"Arrival Time|Epoch Time|Time delta from previous|since reference or first frame")
        return [ln for ln in text.splitlines() if want.search(ln) and "TCP stream" not in ln]

    ours = times(run("-r", str(capture), "-V"))
    assert ours == times(tshark_out(tshark, "-r", str(capture), "-V"))
    assert len(ours) == 5 * len(frames())
    ours = json.loads(run("-r", str(capture), "-T", "json"))
    theirs = json.loads(tshark_out(tshark, "-r", str(capture), "-T", "json"))
    keys = ("frame.time", "frame.time_epoch", "frame.time_delta", "frame.time_relative")
    frame = lambda p: [p["_source"]["layers"]["frame"][k] for k in keys]  # noqa: E731
    assert [frame(p) for p in ours] == [frame(p) for p in theirs]
    # a display filter compares the exact value: one frame, the same for both
    rel = run("-r", str(capture), "-T", "fields", "-e", "frame.time_relative").splitlines()[6]
    expr = f"frame.time_relative == {rel}"
    hit = run("-r", str(capture), "-Y", expr, "-T", "fields", "-e", "frame.number").split()
    assert hit == tshark_out(tshark, "-r", str(capture), "-Y", expr, "-T", "fields", "-e", "frame.number").split()
    assert hit == ["7"] or len(hit) > 1 and "7" in hit  # (a coarse resolution stamps several frames alike)


def test_a_microsecond_capture_keeps_six_digits(tmp_path: Path, tshark: str) -> None:
    """tshark prints a microsecond capture's times with six digits, pcap or pcapng alike; so do we."""
    for path in (CAPTURE, resol_pcapng(tmp_path / "us.pcapng", 6)):
        ours = run("-r", str(path)).splitlines()
        assert [ln.split()[:2] for ln in ours] == [
            ln.split()[:2] for ln in tshark_out(tshark, "-r", str(path)).splitlines()
        ]
        assert all(len(ln.split()[1].split(".")[1]) == 6 for ln in ours)


@pytest.mark.parametrize(
    ("ticks", "tsresol", "ns"),
    [
        (1_764_000_000_123_456_789, 9, 1_764_000_000_123_456_789),
        (17_640_000_001_234_567, 7, 1_764_000_000_123_456_700),
        (1_764_000_000_123_456_789_012, 12, 1_764_000_000_123_456_789),
        (1_764_000_000_123_456, 6, None),  # a microsecond: the float holds it (the fast path)
        (1_764_000_000_123, 3, 1_764_000_000_123_000_000),  # coarser: tshark truncates it to 3 decimals
        (3 << 30, 0x80 | 30, 3_000_000_000),
        ((3 << 30) + 1, 0x80 | 30, 3_000_000_000),  # 2^-30 s is 0.93 ns: floored, as wiretap does
        ((3 << 10) + 1, 0x80 | 10, 3_000_976_562),
    ],
)
def test_stamp_ns(ticks: int, tsresol: int, ns: int | None) -> None:
    assert stamp_ns(ticks, tsresol) == ns


def test_time_column_decimals_follow_tshark() -> None:
    """tshark 4.0's decimals per resolution, as measured on the captures above and more."""
    assert [DIGITS[r] for r in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12)] == [0, 1, 2, 3, 3, 3, 6, 6, 6, 9, 9, 9]
    assert [DIGITS[0x80 | n] for n in (1, 4, 7, 10, 14, 17, 20, 24, 30)] == [0, 1, 2, 3, 3, 3, 6, 6, 9]


def test_a_file_is_read_with_exact_stamps_only_where_they_are_not_microseconds(tmp_path: Path) -> None:
    """The exact reading costs a microsecond file 7-15 % of its summary for nothing: it goes without."""
    from sniffer.source import FileSource

    cases = {
        CAPTURE: False,
        resol_pcapng(tmp_path / "us.pcapng", 6): False,
        ns_pcap(tmp_path / "ns.pcap"): True,
        resol_pcapng(tmp_path / "ns.pcapng", 9): True,
        resol_pcapng(tmp_path / "ms.pcapng", 3): True,
    }
    for path, exact in cases.items():
        src = FileSource(str(path), exact=None)
        try:
            assert src.exact is exact and src.exact_stamps is exact, path
        finally:
            src.reader.close()
