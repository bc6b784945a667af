"""A consumer slower than the traffic loses nothing: what does not fit in the capture's queue waits on
disk (sniffer.capture.backlog) and comes after it, in capture order.

Live part: a real mosquitto and paho clients on `lo`, LiveCapture with a queue of a few frames and
nobody reading until the scenario is over, tcpdump beside it as the reference. The frames handed to
the consumer must be the -w file's frames, the same ones in the same order, and tcpdump's.
"""

from __future__ import annotations

import collections
import marshal
import subprocess
import tempfile
import time

import pytest
from capture_helpers import capture_scenario, needs_root, run_scenario
from conftest import start_broker

from sniffer.capture import backlog as backlog_module
from sniffer.capture.backlog import Backlog
from sniffer.net.pcapfile import open_capture


def _frames(n: int, size: int = 100, start: int = 0) -> tuple[list, list]:
    frames = [(1.5 + i / 1000, 1, bytes([i % 251]) * size + i.to_bytes(4, "big"), size + 10) for i in range(start, n)]
    return frames, [1_500_000_000 + i * 1_000_000 for i in range(start, n)]


def _drain(b: Backlog) -> list:
    out = []
    while len(b):
        batch = b.take()
        assert batch is not None, "take() returns a batch while frames wait"
        out.append(batch)
    assert b.take() is None
    return out


def test_batches_come_back_in_order_as_they_were_added() -> None:
    b = Backlog()
    frames, stamps = _frames(1000)
    batches = [(frames[i : i + 64], stamps[i : i + 64]) for i in range(0, 1000, 64)]  # as a capture hands them
    for batch in batches:
        assert b.add(batch, len(batch[0]))
    assert len(b) == 1000 and b.total == 1000 and b.peak == 1000
    # marshal gives lists back for lists and tuples for tuples: the batch is the same value
    assert _drain(b) == batches
    # emptied: the file starts again at 0 (its disk space goes back), and takes new batches
    assert len(b._segs) == 1 and b._segs[0][1:] == [0, 0] and b.bytes == 0
    assert b._segs[0][0].seek(0, 2) == 0
    more = _frames(1010, start=1000)
    assert b.add(more, 10)
    assert b.take() == more and b.total == 1010 and len(b) == 0
    # a remote capture's records (7 fields, the source's index last) go through the same way
    records = [(1.5, b"\x00" * 60, 60, 1, 1_500_000_000, 9, 2)]
    assert b.add(records, 1) and b.take() == records
    b.close()


def test_a_consumer_that_never_quite_catches_up_frees_the_disk_behind_it(monkeypatch) -> None:
    """The limit is on what waits, not on what was ever written: a backlog that never empties (a
    consumer a little slower than a long burst) goes on taking batches, and the files read to their
    end are closed (their disk space goes back)."""
    monkeypatch.setattr(backlog_module, "SEGMENT", 4000)
    frames, stamps = _frames(3000)
    batches = [(frames[i : i + 10], stamps[i : i + 10]) for i in range(0, 3000, 10)]
    one = len(marshal.dumps(batches[0])) + 4
    b = Backlog(max_bytes=8 * one)  # room for 8 batches waiting; 300 go through
    got = []
    for i, batch in enumerate(batches):
        assert b.add(batch, 10), i
        if i % 2 or len(b) > 60:  # reads a little less than comes, so something always waits
            got.append(b.take())
        assert len(b._segs) <= 3 and b.bytes <= 8 * one  # the disk holds what waits, about
    assert len(b) > 0 and b.total == 3000
    got += _drain(b)
    assert got == batches
    b.close()


def test_a_large_frame_comes_back_whole() -> None:
    b = Backlog()
    big = (2.0, 1, bytes(range(256)) * 4200, 1_075_200)
    small, stamps = _frames(2)
    assert b.add(([small[0], big, small[1]], [stamps[0], 7, stamps[1]]), 3)
    assert b.take() == ([small[0], big, small[1]], [stamps[0], 7, stamps[1]])
    b.close()


def test_past_its_limit_a_batch_is_refused_whole() -> None:
    frames, stamps = _frames(100)
    one = len(marshal.dumps((frames[:10], stamps[:10]))) + 4
    b = Backlog(max_bytes=5 * one)  # room for 5 batches of 10 frames
    for i in range(0, 40, 10):
        assert b.add((frames[i : i + 10], stamps[i : i + 10]), 10)
    assert not b.add((frames[40:60], stamps[40:60]), 20)  # would pass the limit: nothing of it is kept
    assert b.add((frames[60:70], stamps[60:70]), 10)
    assert len(b) == 50 and b.total == 50
    assert [f for batch, _s in _drain(b) for f in batch] == frames[:40] + frames[60:70]
    b.close()


@pytest.fixture(scope="module")
def slow_consumer(tmp_path_factory):
    """The scenario captured with a queue of 20 frames that nobody reads until it is over."""
    return capture_scenario(tmp_path_factory.mktemp("backlog"), max_queued_frames=20)


@needs_root
def test_a_slow_consumer_gets_every_frame_in_capture_order(slow_consumer) -> None:
    got = slow_consumer["frames"]
    s = slow_consumer["stats"]
    assert s.queue_dropped == 0 and s.kernel_dropped == 0
    assert s.captured == len(got) == s.written
    # the scenario makes about 120 frames (118 to 170 seen; ACKs coalesce differently by machine): all
    # but the queue's 20 and a batch that did not fit beside them waited on disk, all at once (nobody read)
    assert len(got) > 60, s
    assert s.backlogged > len(got) - 40 and s.backlog_peak == s.backlogged, s
    memory, disk = slow_consumer["waiting"]
    assert memory <= 20 and disk > len(got) - 40 and memory + disk <= len(got), (memory, disk, s)
    # exactly the -w file's frames, in its order, with its times (both come from the same capture)
    written = [(ts, data, orig) for ts, data, orig, _lt in open_capture(str(slow_consumer["file"]))]
    assert [(data, orig) for _ts, _lt, data, orig in got] == [(d, o) for _t, d, o in written]
    assert all(abs(ts - w[0]) < 1e-6 for (ts, *_), w in zip(got, written, strict=True))
    # and tcpdump's frames, each once
    ours = collections.Counter((data, orig) for _ts, _lt, data, orig in got)
    assert len(slow_consumer["ref"]) > 40
    assert ours == collections.Counter((data, orig) for _ts, data, orig in slow_consumer["ref"])


@needs_root
def test_the_summary_says_frames_waited(slow_consumer) -> None:
    s = slow_consumer["stats"]
    assert "0 packets dropped by mqttsniff (queue full)" in slow_consumer["summary"]
    assert (
        f"{s.backlogged} packets waited on disk for the dissector (at most {s.backlog_peak} at once)"
        in slow_consumer["summary"]
    )


@pytest.fixture
def tiny_tmp(tmp_path, monkeypatch):
    """A 64 KiB tmpfs as the temporary directory: a backlog there fills after a few frames."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    monkeypatch.setattr(tempfile, "tempdir", str(mnt))
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@needs_root
def test_a_full_disk_drops_what_does_not_fit_counts_it_and_keeps_the_order(tiny_tmp, tmp_path) -> None:
    from sniffer.capture import LiveCapture

    with start_broker(tmp_path) as broker:
        cap = LiveCapture(
            "lo", f"tcp port {broker.port}", write_path=str(tmp_path / "all.pcapng"), max_queued_frames=20
        )
        cap.open()
        cap.start()
        try:
            run_scenario(broker.port)  # its 300 KB PUBLISH alone is more than the disk holds
            time.sleep(0.5)
        finally:
            cap.stop()
        got = [f for batch in cap.batches() for f in batch]
    s = cap.stats
    summary = cap.summary()
    assert s.queue_dropped > 0 and s.backlogged > 0, summary
    assert s.captured == len(got) + s.queue_dropped == s.written, summary
    assert "the backlog on disk failed (No space left on device)" in summary
    assert f"{s.queue_dropped} packets dropped by mqttsniff (queue full)" in summary
    # what the consumer got is the -w file's frames in its order, with whole batches left out
    written = iter([(data, orig) for _ts, data, orig, _lt in open_capture(str(tmp_path / "all.pcapng"))])
    assert all(f in written for f in ((data, orig) for _ts, _lt, data, orig in got))
    assert not list(tiny_tmp.iterdir())  # the backlog file was never more than an unlinked temporary


def test_the_merge_of_several_sources_waits_for_one_whose_older_frames_are_on_disk() -> None:
    """Several -i: a source whose frames wait on disk gives a few batches per look. Frames of the other
    sources newer than the last one it gave wait too, or they would go out before its older ones."""
    from sniffer.capture.multi import MultiCapture

    mc = MultiCapture([], "tcp")
    mc.window = 0.25  # (as with two sources or more)
    old = time.monotonic() - 60  # batches that arrived long ago: released at once, but for the horizon
    pending = [
        (old, 0, [(100.0, b"a", 1, 1), (100.5, b"b", 1, 1)]),
        (old, 1, [(100.2, b"c", 1, 1), (103.0, b"d", 1, 1)]),
    ]
    out, keep = mc._release(list(pending), final=False)
    assert [r[0] for r in out] == [100.0, 100.2, 100.5, 103.0] and keep == []
    mc._held_back = {0: 100.5}  # source 0 stopped at 100.5 with more on disk
    out, keep = mc._release(list(pending), final=False)
    assert [r[0] for r in out] == [100.0, 100.2, 100.5]
    assert [(i, [r[0] for r in recs]) for _a, i, recs in keep] == [(1, [103.0])]


@needs_root
def test_stopped_before_the_dissector_caught_up_says_how_many_were_not_dissected(tmp_path) -> None:
    from sniffer.capture import LiveCapture

    with start_broker(tmp_path) as broker:
        cap = LiveCapture("lo", f"tcp port {broker.port}", max_queued_frames=20)
        cap.open()
        cap.start()
        try:
            run_scenario(broker.port)
            time.sleep(0.5)
        finally:
            cap.stop()
        first = cap.get_batch(1)  # the consumer takes one batch, then the user stops for good
    s = cap.stats
    left = s.captured - len(first)
    assert first and s.captured > 60 and left > s.captured // 2 and s.queue_dropped == 0, s
    assert f"{left} packets captured but not dissected (stopped before)" in cap.summary()
