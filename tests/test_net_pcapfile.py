"""sniffer.net.pcapfile: pcap/pcapng against tshark, stdin streaming, bad and truncated files."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sniffer.net.pcapfile import CaptureError, open_capture
from tests.conftest import CORPUS, REPO, require_tool

FRAME = b"\x00" * 12 + b"\x08\x00" + b"E" + b"\x00" * 40


def pcap_bytes(frames, magic=0xA1B2C3D4, order="<", linktype=1, rechdr_extra=b""):
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)
    for sec, frac, data in frames:
        out += struct.pack(order + "IIII", sec, frac, len(data), len(data)) + rechdr_extra + data
    return out


def block(order, btype, body):
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def pcapng_bytes(order="<", tsresol=None, linktype=1):
    shb = block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b""
    if tsresol is not None:
        opts = struct.pack(order + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0" + struct.pack(order + "HH", 0, 0)
    idb = block(order, 1, struct.pack(order + "HHI", linktype, 0, 0) + opts)
    idb2 = block(order, 1, struct.pack(order + "HHI", 101, 0, 0))
    units = 1_000_000 if tsresol is None else (10**tsresol if tsresol < 128 else 2 ** (tsresol & 0x7F))
    t = 1_700_000_000 * units + units // 4
    epb = block(order, 6, struct.pack(order + "IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(FRAME), 99) + FRAME)
    epb2 = block(order, 6, struct.pack(order + "IIIII", 1, t >> 32, t & 0xFFFFFFFF, 3, 3) + b"E\0\0")
    spb = block(order, 3, struct.pack(order + "I", len(FRAME)) + FRAME)
    nrb = block(order, 4, b"\0\0\0\0")
    return shb + idb + idb2 + nrb + epb + epb2 + spb


def read_all(path):
    r = open_capture(str(path))
    return r, list(r)


def test_corpus_counts_and_timestamps_equal_tshark():
    tshark = require_tool("tshark")
    for f in sorted(CORPUS.glob("*.pcap*")):
        out = subprocess.run(
            [tshark, "-r", str(f), "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")[:-1]
        r, frames = read_all(f)
        assert len(frames) == len(out) and not r.truncated, f.name
        for (ts, data, olen, _lt), row in zip(frames, out, strict=True):
            epoch, flen, clen = row.split("\t")
            assert abs(ts - float(epoch)) < 1e-6 and olen == int(flen) and len(data) == int(clen), f.name


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(("magic", "div"), [(0xA1B2C3D4, 1e6), (0xA1B23C4D, 1e9)])
def test_pcap_byte_orders_and_resolutions(tmp_path, order, magic, div):
    p = tmp_path / "x.pcap"
    p.write_bytes(
        pcap_bytes([(1_700_000_000, int(div // 4), FRAME), (1_700_000_001, 0, b"\x01" * 65549)], magic, order)
    )
    r, frames = read_all(p)
    assert r.format == "pcap" and r.linktype == 1
    assert [(round(ts, 6), len(d), lt) for ts, d, _o, lt in frames] == [
        (1_700_000_000.25, 55, 1),
        (1_700_000_001.0, 65549, 1),
    ]


def test_modified_pcap(tmp_path):
    p = tmp_path / "m.pcap"
    p.write_bytes(pcap_bytes([(5, 0, FRAME)], 0xA1B2CD34, "<", rechdr_extra=b"\0" * 8))
    _r, frames = read_all(p)
    assert [d for _t, d, _o, _l in frames] == [FRAME]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("tsresol", [None, 9, 3, 0x80 | 20])
def test_pcapng_sections_interfaces_resolutions(tmp_path, order, tsresol):
    p = tmp_path / "x.pcapng"
    p.write_bytes(pcapng_bytes(order, tsresol) + pcapng_bytes("<" if order == ">" else ">"))
    r, frames = read_all(p)
    assert r.format == "pcapng" and not r.truncated
    assert [(lt, len(d), o) for _t, d, o, lt in frames] == [(1, 55, 99), (101, 3, 3), (1, 55, 55)] * 2
    assert abs(frames[0][0] - 1_700_000_000.25) < 1e-5


def test_pcapng_agrees_with_tshark(tmp_path):
    tshark = require_tool("tshark")
    p = tmp_path / "x.pcapng"
    p.write_bytes(pcapng_bytes(">", 9))
    out = subprocess.run([tshark, "-r", str(p), "-T", "fields", "-e", "frame.len", "-e", "frame.encap_type"],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    _r, frames = read_all(p)
    assert [int(x) for x in out[::2]] == [o for _t, _d, o, _l in frames]


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_wide_records(tmp_path, order):
    """The records sniffer.source asks for (reader.width 6/7/8): exact ticks, the interface id (a Simple
    Packet Block's is 0, as tshark says), and the file offset where the frame's bytes lie."""
    tshark = require_tool("tshark")
    p = tmp_path / "x.pcapng"
    raw = pcapng_bytes(order, 9)
    p.write_bytes(raw)
    ifids = subprocess.run([tshark, "-r", str(p), "-T", "fields", "-e", "frame.interface_id"],
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert ifids == ["0", "1", "0"]
    for width in (4, 6, 7, 8):
        r = open_capture(str(p))
        r.exact, r.width = True, width
        recs = list(r)
        assert [len(x) for x in recs] == [width] * 3
        assert [x[:4] for x in recs] == [x[:4] for x in read_all(p)[1]]
        if width >= 6:
            t = 1_700_000_000 * 10**9 + 10**9 // 4
            assert [(x[4], x[5]) for x in recs] == [(t, 9), (t, 6), (0, 9)]  # (interface 1 in µs; the SPB has no time)
        if width >= 7:
            assert [str(x[6]) for x in recs] == ifids
        if width == 8:
            assert [raw[x[7] : x[7] + len(x[1])] for x in recs] == [x[1] for x in recs]


def test_errors(tmp_path):
    with pytest.raises(CaptureError, match="no such file"):
        open_capture(str(tmp_path / "missing.pcap"))
    bad = tmp_path / "text.pcap"
    bad.write_bytes(b"hello world, not a capture")
    with pytest.raises(CaptureError, match="magic 0x68656c6c"):
        open_capture(str(bad))
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(CaptureError):
        open_capture(str(empty))
    if os.geteuid() != 0:  # root reads anything; the check only means something for users
        locked = tmp_path / "locked.pcap"
        locked.write_bytes(pcap_bytes([]))
        locked.chmod(0)
        with pytest.raises(CaptureError, match="permission denied"):
            open_capture(str(locked))
    huge = tmp_path / "huge.pcap"
    huge.write_bytes(pcap_bytes([(1, 0, FRAME)]) + struct.pack("<IIII", 2, 0, 300_000, 300_000) + b"\0" * 64)
    r = open_capture(str(huge))
    it = iter(r)
    assert next(it)[1] == FRAME
    with pytest.raises(CaptureError, match="300000 bytes"):
        next(it)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(("btype", "length"), [(6, 28), (2, 24), (3, 12), (10, 16), (1, 16)])
def test_pcapng_block_too_short_for_its_fields(tmp_path, order, btype, length):
    """A block shorter than its own fixed fields, last in the file: the frames before it, then one clear error
    (not an IndexError from reading past the file's end); tshark stops there too."""
    tshark = require_tool("tshark")
    p = tmp_path / "short.pcapng"
    p.write_bytes(pcapng_bytes(order) + struct.pack(order + "II", btype, length) + b"\0" * (length - 8))
    frames = []
    with pytest.raises(CaptureError, match=f"corrupt pcapng block \\(type {btype}, length {length}\\)"):
        frames.extend(open_capture(str(p)))
    assert len(frames) == 3
    run = subprocess.run([tshark, "-r", str(p)], capture_output=True, text=True)
    assert run.returncode != 0 and len(run.stdout.splitlines()) == 3


def test_truncated_file_stops_at_last_whole_record(tmp_path):
    whole = pcap_bytes([(1, 0, FRAME), (2, 0, FRAME), (3, 0, FRAME)])
    for cut in (len(whole) - 10, len(whole) - 60, len(whole) - 1):
        p = tmp_path / "t.pcap"
        p.write_bytes(whole[:cut])
        r, frames = read_all(p)
        assert r.truncated and len(frames) == 2
    ng = pcapng_bytes()
    p = tmp_path / "t.pcapng"
    p.write_bytes(ng[:-7])
    r, frames = read_all(p)
    assert r.truncated and len(frames) == 2


def test_stdin_streams_frames_as_they_arrive(tmp_path):
    """A frame written to the pipe comes out before the writer closes it (tcpdump -U | mqttsniff -r -)."""
    code = (
        "import sys; from sniffer.net.pcapfile import open_capture\n"
        "for ts, d, o, lt in open_capture('-'):\n"
        "    print(len(d), flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(pcap_bytes([(1, 0, FRAME)]))
    proc.stdin.flush()
    t0 = time.monotonic()
    line = proc.stdout.readline()  # would block forever if the reader waited for EOF or a full block
    assert line == b"55\n" and time.monotonic() - t0 < 10
    proc.stdin.write(struct.pack("<IIII", 2, 0, 3, 3) + b"abc")
    proc.stdin.close()
    assert proc.stdout.read() == b"3\n"
    assert proc.wait(10) == 0


def test_gzipped_capture(tmp_path):
    import gzip

    p = tmp_path / "x.pcap.gz"
    p.write_bytes(gzip.compress(pcap_bytes([(1, 0, FRAME)])))
    _r, frames = read_all(p)
    assert len(frames) == 1


def test_a_large_capture_reads_every_record(tmp_path):
    """200,000 records across the reader's 64 KiB reads, each whole (its speed is bench/'s: no timed test)."""
    p = Path(tmp_path) / "big.pcap"
    rec = struct.pack("<IIII", 1, 0, len(FRAME), len(FRAME)) + FRAME
    p.write_bytes(pcap_bytes([]) + rec * 200_000)
    n = 0
    for _ts, data, orig, _lt in open_capture(str(p)):
        assert data == FRAME and orig == len(FRAME)
        n += 1
    assert n == 200_000


def test_microsecond_times_in_ns_equal_the_plain_arithmetic() -> None:
    """us_ns and float_us_ns (shifts, not a multiply the compiled build boxes) give round(ts * 1e6) * 1000 for
    times a microsecond stamp makes, before 1970 and past 2^31 microseconds, and 0 past any real time."""
    import random

    from sniffer.net.pcapfile import float_us_ns, us_ns

    rng = random.Random(7)
    stamps = [0, 1, 2**31, 2**31 - 1, 1_700_000_000_123_456, 4_102_444_800_000_000, -1, -(2**31), -86_400_000_001]
    stamps += [rng.randrange(-(10**14), 10**15) for _ in range(2000)]
    for us in stamps:
        assert us_ns(us) == us * 1000
        ts = us / 1e6  # (how a microsecond file's time reaches the pipeline)
        assert float_us_ns(ts) == round(ts * 1e6) * 1000, us
    assert float_us_ns(1e15) == float_us_ns(-1e16) == float_us_ns(float("nan")) == float_us_ns(float("inf")) == 0
