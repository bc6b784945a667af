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
from test_extreme_timestamps import _block, pcapng

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
        (1_764_000_000_123_456, 6, 1_764_000_000_123_456_000),  # (read exactly only beside a finer interface)
        (1_764_000_000_123, 3, 1_764_000_000_123_000_000),  # coarser: tshark truncates it to 3 decimals
        (3 << 30, 0x80 | 30, 3_000_000_000),
        ((3 << 30) + 1, 0x80 | 30, 3_000_000_000),  # 2^-30 s is 0.93 ns: floored, as wiretap does
        ((3 << 10) + 1, 0x80 | 10, 3_000_976_562),
    ],
)
def test_stamp_ns(ticks: int, tsresol: int, ns: int) -> None:
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


def two_interfaces(path: Path, first: int) -> Path:
    """A pcapng with a nanosecond and a microsecond interface, frames alternating between them (interface
    `first` stamps the first frame): each frame's Time column has its own interface's decimals."""
    data = frames()
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    ns_idb = _block(1, struct.pack("<HHI", 1, 0, 262144) + struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0))
    us_idb = _block(1, struct.pack("<HHI", 1, 0, 262144))
    out = shb + ns_idb + us_idb
    for i, (ns, fr) in enumerate(zip(stamps(len(data)), data, strict=True)):
        ifid = (i + first) % 2
        ticks = ns if ifid == 0 else ns // 1000
        out += _block(6, struct.pack("<IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(fr), len(fr)) + fr)
    path.write_bytes(out)
    return path


@pytest.mark.parametrize("first", [0, 1], ids=["ns-first", "us-first"])
def test_interfaces_of_different_resolutions_in_one_file(tmp_path: Path, tshark: str, first: int) -> None:
    path = two_interfaces(tmp_path / "two.pcapng", first)
    ours = run("-r", str(path)).splitlines()
    assert ours == tshark_out(tshark, "-r", str(path)).splitlines()
    assert {len(ln.split()[1].split(".")[1]) for ln in ours} == {6, 9}
    args = ["-T", "fields", *(a for f in TIME_FIELDS for a in ("-e", f))]
    assert run("-r", str(path), *args) == tshark_out(tshark, "-r", str(path), *args)


def test_a_negative_time_cut_to_zero_has_no_sign(tmp_path: Path, tshark: str) -> None:
    """A frame 100 ns before the first, at 10^-7 s: -0.0000001 s has six decimals of zero, `0.000000` to tshark."""
    data = frames()[:3]
    ticks = [17_640_000_001_234_567, 17_640_000_001_234_566, 17_640_000_001_234_577]
    path = tmp_path / "neg.pcapng"
    path.write_bytes(pcapng(list(zip(ticks, data, strict=True)), 7))
    ours = run("-r", str(path)).splitlines()
    assert ours == tshark_out(tshark, "-r", str(path)).splitlines()
    assert ours[1].split()[1] == "0.000000"
    fields = ["-T", "fields", "-e", "frame.time_relative", "-e", "_ws.col.Time"]
    assert run("-r", str(path), *fields).splitlines()[1] == "-0.000000100\t0.000000"


def test_a_capture_read_through_a_named_pipe_loses_nothing(tmp_path: Path) -> None:
    """`mqttsniff -r <(zcat big.pcapng)`: the path is a pipe, read once (its first blocks are not peeked at)."""
    import os
    import threading

    src = resol_pcapng(tmp_path / "ns.pcapng", 9)
    big = tmp_path / "big.pcapng"
    body = src.read_bytes()
    big.write_bytes(body + body[body.index(b"\x06\x00\x00\x00") :] * 200)  # > 64 KiB of packet blocks
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    feed = threading.Thread(target=lambda: fifo.write_bytes(big.read_bytes()))
    feed.start()
    try:
        piped = run("-r", str(fifo))
    finally:
        feed.join(30)
    assert piped == run("-r", str(big)) and len(piped.splitlines()) > 2000


def test_a_merged_capture_counts_every_member_in_nanoseconds() -> None:
    """A merged live capture (local interfaces in ns, an ssh:// member's tcpdump in us) writes every frame to -w
    in ns, so its lines show nine decimals for all, exact across members (sniffer.capture.multi)."""
    from sniffer.driver import LineSink, drive
    from sniffer.output.summary import ARROW_MARK, SummaryDissector
    from sniffer.source import MemorySource

    data = frames()[:6]
    base = 1_764_000_000_000_000_000
    offs = [0, 1_000_500, 2_000_123, 3_000_000, 4_000_001, 5_000_999]  # ns after base; even rows from the remote
    recs = []
    for i, (off, fr) in enumerate(zip(offs, data, strict=True)):
        ticks, res = ((base + off) // 1000, 6) if i % 2 == 0 else (base + off, 9)
        recs.append(((base + off) / 1e9, fr, len(fr), 1, ticks, res, i % 2))
    src = MemorySource(recs)
    src.exact_stamps, src.stamp_digits, src.interface_names = True, 9, ["gw", "lo"]  # as MultiCapture has them

    class Out:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    out = Out()
    drive(src, SummaryDissector([1883]), LineSink(out, arrow_mark=ARROW_MARK))  # type: ignore[arg-type]
    times = [ln.split()[1] for ln in out.text.splitlines()]
    assert times == ["0.000000000", "0.001000500", "0.002000000", "0.003000000", "0.004000000", "0.005000999"]


@pytest.mark.parametrize("which", ["us", "ns"])
def test_the_displayed_delta_counts_from_the_last_displayed_frame(tmp_path: Path, tshark: str, which: str) -> None:
    """Under -Y, frame.time_delta_displayed counts from the last frame displayed (0 before any), the filter itself
    seeing that value, as tshark's single pass does; without -Y it is frame.time_delta."""
    path = CAPTURE if which == "us" else ns_pcap(tmp_path / "ns.pcap")
    fields = ["-T", "fields", "-e", "frame.number", "-e", "frame.time_delta_displayed", "-e", "frame.time_delta"]
    for expr in ("mqtt.msgtype == 3", "tcp.len == 0", "frame.time_delta_displayed > 0.9", "frame.number >= 4"):
        ours = run("-r", str(path), "-Y", expr, *fields).splitlines()
        assert ours == tshark_out(tshark, "-r", str(path), "-Y", expr, *fields).splitlines(), expr
    shown = run("-r", str(path), "-Y", "tcp.len == 0", *fields).splitlines()
    assert len(shown) >= 2 and any(ln.split("\t")[1] != ln.split("\t")[2] for ln in shown[1:])
    line = [ln for ln in run("-r", str(path), "-Y", "tcp.len == 0", "-V").splitlines() if "displayed frame" in ln]
    assert line == [ln for ln in tshark_out(tshark, "-r", str(path), "-Y", "tcp.len == 0", "-V").splitlines()
                    if "displayed frame" in ln] and len(line) == len(shown)  # fmt: skip


def test_verbose_time_labels_of_the_public_captures_equal_tsharks(corpus_files: list[Path], tshark: str) -> None:
    """-V's frame time labels of microsecond captures: printed from the microseconds, not the float difference
    of two epochs (which showed `0.000042915` where tshark shows `0.000043000`)."""
    want = re.compile(r"Arrival Time|Epoch Time|Time delta from previous|since reference or first frame")
    for path in corpus_files:
        ours = [ln for ln in run("-r", str(path), "-V").splitlines() if want.search(ln)]
        assert ours == [ln for ln in tshark_out(tshark, "-r", str(path), "-V").splitlines() if want.search(ln)], path
        assert ours


# Wireshark's View → Time Display Format in the UI, and tshark's -t for the same column
UI_MODES = {"absolute": "ud", "delta": "dd", "epoch": "e", "relative": "r"}
FRAME_TIMES = re.compile(r"^(Arrival Time|Epoch Time|\[Time delta from previous captured|\[Time since reference)")


def test_the_ui_shows_the_times_tshark_shows(request, capture: Path, tshark: str) -> None:
    """The UI's packet list (each Time Display Format, under a display filter for the delta) and its detail
    tree show a capture's times with the decimals of its resolution, digit for digit as tshark does: the store
    keeps each frame's exact ticks, so nothing goes through a float (Wireshark shows a dumpcap capture to the
    nanosecond; a float since 1970 holds ~0.24 us)."""
    from sniffer.pipeline import Dissector
    from sniffer.ui.app import SnifferApp
    from sniffer.ui.sources import FileSource
    from tests.ui_helpers import run as run_ui
    from tests.ui_helpers import settle, wait_for

    want = {
        mode: [
            ln.split("\t")
            for ln in tshark_out(
                tshark,
                "-r",
                str(capture),
                "-Y",
                "mqtt",
                "-t",
                t,
                "-T",
                "fields",
                "-e",
                "frame.number",
                "-e",
                "_ws.col.Time",
            ).splitlines()  # fmt: skip
        ]
        for mode, t in UI_MODES.items()
    }
    tree_want = [ln.strip() for ln in tshark_out(tshark, "-r", str(capture), "-V").splitlines()]
    tree_want = [ln for ln in tree_want if FRAME_TIMES.match(ln)]
    shown_want = [ln for ln in tshark_out(tshark, "-r", str(capture), "-Y", "mqtt", "-V").splitlines()
                  if "Time delta from previous displayed frame" in ln]  # fmt: skip
    digits = RESOLUTIONS[request.node.callspec.params["capture"]][1]
    n = len(frames())

    async def go() -> None:
        app = SnifferApp(FileSource(str(capture)), Dissector())
        async with app.run_test(size=(140, 30)) as pilot:
            await settle(app, pilot, n)
            store, plist = app.store, app.plist
            assert store.time_digits == digits
            # the tree of every frame, as the detail pane shows it
            shown = []
            for row in range(n):
                node = store.frame(row).tree()[0]
                shown += [c.text for c in node.children if FRAME_TIMES.match(c.text)]
            assert shown == tree_want and len(shown) == 4 * n
            await pilot.press("slash", *"mqtt", "enter")
            await settle(app, pilot, len(want["relative"]))
            # the tree's delta from the previous displayed frame, each displayed frame selected in turn
            displayed = []
            for d in range(plist.count):
                row = plist.store_row(d)
                app.select_stored_row(row)
                await wait_for(pilot, lambda row=row: app.selected_row == row, what=f"row {row} in the tree")
                displayed += [c.text for c in app._sel_nodes[0].children if "previous displayed" in c.text]
            assert displayed == [ln.strip() for ln in shown_want] and displayed
            for mode in UI_MODES:
                await pilot.press("T")
                await wait_for(pilot, lambda mode=mode: plist.time_mode == mode, what=mode)
                cells = [[str(store.number(plist.store_row(d))), plist.time_text(d)] for d in range(plist.count)]
                assert cells == want[mode], mode
                assert max(len(c[1]) for c in cells) <= plist.columns()[1], mode  # no cell is cut
                # whole in the list, under the column's title
                plist.scroll_to(y=0, animate=False)
                await pilot.pause()
                line = "".join(s.text for s in plist.render_line(0))
                header = str(app.list_header.render())
                cell = cells[0][1]
                assert cell in line and "…" not in line[: line.index(cell) + len(cell)], (mode, line)
                assert header.index("Time") + 4 == line.index(cell) + len(cell), (mode, header, line)
            # a display filter on a time compares the exact value, as tshark's does
            await pilot.press("slash", "ctrl+u", *expr, "enter")
            await settle(app, pilot, len(hit))
            assert [str(store.number(plist.store_row(d))) for d in range(plist.count)] == hit

    # Apply as Filter on a frame's Arrival Time finds that frame, as tshark's filter does
    from sniffer.pipeline import Dissector as _D
    from sniffer.ui.fieldtext import filter_text

    first = open_capture(str(capture))
    first.exact = True
    ts, data, orig_len, lt = next(iter(first))[:4]
    fr = _D().frame(1, ts, lt, bytes(data), orig_len, stamp_ns(first.ticks, first.tsresol), DIGITS[first.tsresol])
    node = next(c for c in fr.tree()[0].children if c.fdef is not None and c.fdef.abbrev == "frame.time")
    applied = filter_text(node)
    found = run("-r", str(capture), "-Y", applied, "-T", "fields", "-e", "frame.number").split()
    assert "1" in found and found == tshark_out(tshark, "-r", str(capture), "-Y", applied, "-T", "fields", "-e",
                                                "frame.number").split(), applied  # fmt: skip
    rel = tshark_out(tshark, "-r", str(capture), "-T", "fields", "-e", "frame.time_relative").splitlines()[6]
    expr = f"frame.time_relative == {rel}"
    hit = tshark_out(tshark, "-r", str(capture), "-Y", expr, "-T", "fields", "-e", "frame.number").split()
    assert "7" in hit
    run_ui(go())


@pytest.mark.parametrize("keep", [0, 7], ids=["one-store", "bounded"])
def test_the_ui_store_gives_every_frame_the_dissectors_exact_times(capture: Path, keep: int) -> None:
    """What the UI's store rebuilds (Frame.exact: time, since the first frame, since the previous one,
    decimals) equals what the headless dissector computed for the same frame, in one store and across
    the successor stores of a bounded UI (--keep-frames), whose first row counts from the last row before."""
    from sniffer.pipeline import Dissector
    from sniffer.store import PacketStore

    reader = open_capture(str(capture))
    reader.exact = True
    recs = [(rec[0], bytes(rec[1]), rec[2], rec[3], reader.ticks, reader.tsresol) for rec in reader]
    headless, ui = Dissector(), Dissector()
    want, got = [], []
    store = PacketStore()
    for n, (ts, data, orig_len, lt, ticks, res) in enumerate(recs, 1):
        want.append(headless.frame(n, ts, lt, data, orig_len, stamp_ns(ticks, res), DIGITS[res]).exact)
        if keep and store.count == keep:
            got += [store.frame(i).exact for i in range(store.count)]
            store = store.successor()
        store.add(ui.frame(n, ts, lt, data, orig_len), ticks, res)
    got += [store.frame(i).exact for i in range(store.count)]
    assert got == want and len(got) == len(recs) and None not in got


def test_time_literals_in_filters_keep_every_digit(tmp_path: Path, tshark: str) -> None:
    """A date and time in a filter is exact to the nanosecond, in ISO or as tshark prints frame.time (`Nov 24,
    2025 16:00:00.123456789`), so `frame.time == <a frame's time>` finds that frame, as tshark's filter does."""
    path = ns_pcap(tmp_path / "ns.pcap")
    literals = ("2025-11-24 16:00:00.123456789 UTC", "Nov 24, 2025 16:00:00.123456789 UTC",
                "2025-11-24T16:00:00.123456789Z", "2025-11-24 16:00:00.1234567 UTC")  # fmt: skip
    exprs = [f'frame.time == "{t}"' for t in literals]
    exprs += ['frame.time > "2025-11-24 16:00:00.123456789 UTC"', 'frame.time <= "2025-11-24 16:00:00.999999999 UTC"']
    for expr in exprs:
        args = ("-r", str(path), "-Y", expr, "-T", "fields", "-e", "frame.number")
        assert run(*args).split() == tshark_out(tshark, *args).split(), expr
    assert run("-r", str(path), "-Y", 'frame.time == "Nov 24, 2025 16:00:00.123456789 UTC"', "-T", "fields", "-e",
               "frame.number").split() == ["1"]  # fmt: skip


def test_the_ui_time_column_is_whole_and_merged_captures_show_nine_decimals(tmp_path: Path, tshark: str) -> None:
    """A frame 100 ns before the first (the Time column must have room for `-0.000000100`, which tshark shows),
    and a merged capture (microsecond rows from an ssh:// member beside nanosecond ones: nine decimals for all,
    as headless and as its -w file reads back)."""
    from sniffer.pipeline import Dissector
    from sniffer.source import MemorySource
    from sniffer.ui.app import SnifferApp
    from sniffer.ui.sources import FileSource
    from tests.ui_helpers import run as run_ui
    from tests.ui_helpers import settle, wait_for

    data = frames()
    early = tmp_path / "early.pcap"
    out = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1)
    for k, fr in enumerate(data):
        ns = BASE_NS + (-100 if k == 1 else k * 1_000_000_007)
        out += struct.pack("<IIII", ns // 10**9, ns % 10**9, len(fr), len(fr)) + fr
    early.write_bytes(out)
    want = {mode: tshark_out(tshark, "-r", str(early), "-t", t, "-T", "fields", "-e", "_ws.col.Time").split("\n")[:-1]
            for mode, t in UI_MODES.items()}  # fmt: skip
    assert want["relative"][1] == "-0.000000100"
    offs = [0, 1_000_500, 2_000_123, 3_000_000, 4_000_001, 5_000_999]
    merged = []
    for i, (off, fr) in enumerate(zip(offs, data, strict=False)):
        ticks, res = ((BASE_NS + off) // 1000, 6) if i % 2 == 0 else (BASE_NS + off, 9)
        merged.append(((BASE_NS + off) / 1e9, fr, len(fr), 1, ticks, res))

    async def go() -> None:
        app = SnifferApp(FileSource(str(early)), Dissector())
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(app, pilot, len(data))
            plist = app.plist
            for mode in UI_MODES:
                await pilot.press("T")
                await wait_for(pilot, lambda mode=mode: plist.time_mode == mode, what=mode)
                cells = [plist.time_text(d) for d in range(plist.count)]
                assert cells == want[mode], mode
                assert max(map(len, cells)) <= plist.columns()[1], mode
        src = MemorySource(merged)
        src.stamp_digits = 9  # (as sniffer.capture.multi.MultiCapture has it)
        app = SnifferApp(src, Dissector())
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(app, pilot, len(merged))
            times = [app.plist.time_text(d) for d in range(app.plist.count)]
            assert times == ["0.000000000", "0.001000500", "0.002000000", "0.003000000", "0.004000000", "0.005000999"]

    run_ui(go())


def test_a_row_without_exact_stamps_keeps_its_microseconds_far_from_1970() -> None:
    """A source without exact stamps (a test's, a capture without the kernel's ns) is stored to the microsecond
    its float holds, whatever its date (a cut at 1e10 s stored year 2286 and later as 1970)."""
    from sniffer.pipeline import Dissector
    from sniffer.store import PacketStore

    d, store = Dissector(), PacketStore()
    data = frames()[:3]
    for k, (ts, fr) in enumerate(zip((2e10, 2e10 + 0.5, 2e10 + 1.25), data, strict=True), 1):
        store.add(d.frame(k, ts, 1, fr, len(fr)))
    assert [store.exact(i)[1:] for i in range(3)] == [(0, 0, 6), (500_000_000, 500_000_000, 6),
                                                      (1_250_000_000, 750_000_000, 6)]  # fmt: skip
    assert store.ns(0) == 20_000_000_000 * 10**9
