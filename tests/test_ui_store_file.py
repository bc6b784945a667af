"""A file source's store keeps offsets, not copies: frames dissected again from the file
(sniffer.replay) are exactly the frames the load made, in any order of access."""

from __future__ import annotations

import gzip
import os
import random
import struct
import subprocess
import sys

import pytest

from sniffer import source
from sniffer.filter.rows import RowAccess
from sniffer.output.text import hex_sources, tree_lines
from sniffer.pipeline import Dissector
from sniffer.store import FILE_ROW, PacketStore
from sniffer.synth.pcap_write import PcapWriter
from sniffer.ui.loader import Loader
from sniffer.ui.save import write_pcapng
from sniffer.ui.sources import FileSource
from tests.conftest import require_tool
from tests.ui_helpers import DEMO

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(src, store=None, **kw):
    """Load `src` as the UI does: the loader, a recording dissector, the store's backfill."""
    store = PacketStore() if store is None else store
    d = Dissector(record=True, **kw)
    store.backfill = d.tracker.backfill
    loader = Loader(src, store, d)
    loader.start()
    assert loader.done.wait(120)
    assert loader.error is None, loader.error
    return store


def _text(fr) -> tuple:
    nodes = fr.tree()
    return (
        tree_lines(nodes, show_secrets=True),
        hex_sources(fr, nodes, True),
        (fr.number, fr.info, fr.rel_ts, fr.delta, fr.stream, fr.src, fr.dst, fr.iface),
    )


def _same(copied, offsets, order, label):
    for i in order:
        assert _text(offsets.frame(i)) == _text(copied.frame(i)), (label, i)


@pytest.fixture(scope="module")
def interleaved(tmp_path_factory):
    """A generated capture of 40 clients whose streams interleave (MQTT 3.1.1 and 5, QoS 0-2,
    retained, large payloads split over segments)."""
    out = tmp_path_factory.mktemp("gen") / "gen.pcap"
    subprocess.run(
        [sys.executable, os.path.join(REPO, "bench", "gen_capture.py"), str(out), "--frames", "6000",
         "--clients", "40", "--seed", "3", "--large-share", "0.02"],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


def test_annotation_records_past_4_gib_of_spill(interleaved):
    """A spill that passes 4 GiB mid-load: the annotation records' offsets widen to 64 bits (the rows
    stored before keep theirs), and every row still rebuilds exactly. The spill is made to start just
    below 4 GiB (a sparse file), not filled."""
    copied = _load(source.FileSource(str(interleaved), exact=True))
    store = PacketStore()
    store._flushed = (1 << 32) - 20_000  # (the next record's offset: the spill's size so far)
    offsets = _load(FileSource(str(interleaved)), store=store)
    assert offsets._ann_off.typecode == "Q"  # the widening happened during this load
    rows = offsets._ann_rows
    offs = offsets._ann_off
    assert len(rows) == len(offs) > 100
    assert offs[0] < 1 << 32 < offs[-1]  # records on both sides of the boundary
    assert all(a < b for a, b in zip(rows, rows[1:], strict=False))
    _same(copied, offsets, range(copied.count), "past 4 GiB")


def test_file_rows_rebuild_exactly_in_any_order(corpus_files, interleaved, tmp_path):
    # the generated capture as pcapng too (what Wireshark and -w write): its rows' file offsets are pcapng's
    as_ng = tmp_path / "gen.pcapng"
    subprocess.run([require_tool("editcap"), "-F", "pcapng", str(interleaved), str(as_ng)], check=True)
    for path in [DEMO, *corpus_files, interleaved, as_ng]:
        copied = _load(source.FileSource(str(path), exact=True))  # every row with its context
        offsets = _load(FileSource(str(path)))
        n = copied.count
        assert offsets.count == n and n > 0
        assert all(offsets.is_file_row(i) for i in range(n)), path
        rows = list(range(n))
        rnd = random.Random(5).sample(rows, min(n, 400))
        _same(copied, offsets, reversed(rows[-400:]), (path, "backwards"))
        _same(copied, offsets, rnd, (path, "random"))
        assert [_text(f) for f in offsets.frames(0, min(n, 2000))] == [
            _text(copied.frame(i)) for i in range(min(n, 2000))
        ], path
        at = offsets.frame_reader()
        for i in range(0, n, 7):
            assert _text(at(i)) == _text(copied.frame(i)), (path, "reader", i)
        assert offsets.row(n - 1) == copied.row(n - 1)
        assert [offsets.raw(i) for i in rnd] == [copied.raw(i) for i in rnd]


def test_the_spill_holds_annotations_only(interleaved):
    size = os.path.getsize(interleaved)
    copied = _load(source.FileSource(str(interleaved), exact=True))
    offsets = _load(FileSource(str(interleaved)))
    assert copied.spill_bytes() > size  # bytes and context: more than the capture
    assert offsets.spill_bytes() < size / 10, (offsets.spill_bytes(), size)
    assert offsets.ram_bytes() / offsets.count < 200


def test_walking_a_stream_dissects_each_frame_once(interleaved):
    store = _load(FileSource(str(interleaved)))
    s = max(range(40), key=lambda k: len(store.stream_rows(k)))
    rows = store.stream_rows(s)
    assert len(rows) > 100
    replay = store.replay
    before = replay.replayed
    for r in rows[:100]:
        store.frame(r)
    assert replay.replayed - before == 100  # down the stream: one frame per step
    before = replay.replayed
    for r in reversed(rows[:100]):
        store.frame(r)
    assert replay.replayed == before  # back up: the frames just rebuilt are kept


def test_pdu_view_reads_the_file(corpus_files):
    for path in [DEMO, *corpus_files]:
        copied = _load(source.FileSource(str(path), exact=True))
        offsets = _load(FileSource(str(path)))
        a, b = RowAccess(copied), RowAccess(offsets)
        views = 0
        for i in range(copied.count):
            va, vb = a.pdu_view(i), b.pdu_view(i)
            assert (va is None) == (vb is None), (path, i)
            if va is not None:
                views += 1
                assert (va.data, va.hdr_len, va.msgtype, va.flags, va.version) == (
                    vb.data, vb.hdr_len, vb.msgtype, vb.flags, vb.version)  # fmt: skip
        assert views or "malformed" in path.name or "invalid" in path.name, path


def test_rows_after_the_buffered_cap_keep_their_context(corpus_files):
    """The --max-buffered cap spans streams: once the load hits it, rows are stored with context."""
    path = next(p for p in corpus_files if "100KB" in p.name)
    copied = _load(source.FileSource(str(path), exact=True), max_buffered=20_000)
    src = FileSource(str(path))
    src.batch_size = 4  # several batches: those before the cap was hit keep file rows
    offsets = _load(src, max_buffered=20_000)
    kinds = [offsets.is_file_row(i) for i in range(offsets.count)]
    assert True in kinds and False in kinds  # file rows until the cap, context rows after
    assert kinds.index(False) > 0 and all(not k for k in kinds[kinds.index(False) :])
    _same(copied, offsets, range(offsets.count), "cap")


def test_a_gzipped_or_piped_capture_keeps_copies(tmp_path):
    gz = tmp_path / "demo.pcap.gz"
    gz.write_bytes(gzip.compress(DEMO.read_bytes()))
    src = FileSource(str(gz))
    assert not src.offsets
    store = _load(src)
    assert store.replay is None and not any(store._off[i] & FILE_ROW for i in range(store.count))
    plain = _load(FileSource(str(DEMO)))
    _same(plain, store, range(store.count), "gzip")


def test_saving_over_the_file_being_read(tmp_path):
    """Saving replaces the file (a new inode): the store keeps reading the one it loaded."""
    path = tmp_path / "cap.pcap"
    path.write_bytes(DEMO.read_bytes())
    store = _load(FileSource(str(path)))
    before = [_text(store.frame(i)) for i in range(store.count)]
    assert write_pcapng(str(path), store, range(0, store.count, 2)) == (store.count + 1) // 2
    store.replay._frames.clear()
    store.replay._streams.clear()
    assert [_text(store.frame(i)) for i in range(store.count)] == before


def test_a_file_cut_under_the_store_is_an_error_not_garbage(tmp_path):
    path = tmp_path / "cap.pcap"
    path.write_bytes(DEMO.read_bytes())
    store = _load(FileSource(str(path)))
    with open(path, "r+b") as f:  # cut in place (the same inode): the last frames' bytes are gone
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(OSError, match="are gone"):
        store.raw(store.count - 1)


def test_a_column_of_one_value_widens_when_a_row_differs():
    from sniffer.store import _Constant

    col = _Constant("H")
    for row, v in enumerate([1, 1, 1, 113, 1]):
        col.append(v, row)
        assert [col[i] for i in range(row + 1)] == [1, 1, 1, 113, 1][: row + 1]
    same = _Constant("B")
    for row in range(1000):
        same.append(6, row)
    assert same[999] == 6 and len(same.column) == 0  # no byte per row while every row agrees


def test_the_frames_kept_for_walking_back_are_bounded_in_bytes(corpus_files, monkeypatch):
    import sniffer.replay as rp

    path = next(p for p in corpus_files if "100KB" in p.name)  # reassembled PDUs of 100 KB
    store = _load(FileSource(str(path)))
    monkeypatch.setattr(rp, "FRAME_BYTES_KEPT", 150_000)
    for i in range(store.count):
        store.frame(i)
        kept = store.replay._frames
        assert store.replay._bytes == sum(rp._size(f) for f in kept.values())
        assert store.replay._bytes <= 150_000 or len(kept) == 1


def test_a_long_stream_keeps_context_after_its_first_frames(monkeypatch, interleaved):
    """Rebuilding a file row dissects at most REPLAY_MAX frames of its stream: later frames of a long
    connection keep their context, and every frame is still exactly the load's."""
    import sniffer.store as st

    monkeypatch.setattr(st, "REPLAY_MAX", 25)
    copied = _load(source.FileSource(str(interleaved), exact=True))
    offsets = _load(FileSource(str(interleaved)))
    n = offsets.count
    for s in range(5):
        rows = offsets.stream_rows(s)
        assert len(rows) > 25
        assert [offsets.is_file_row(r) for r in rows] == [True] * 25 + [False] * (len(rows) - 25)
    before = offsets.replay.replayed
    rows = offsets.stream_rows(0)
    offsets.frame(rows[-1])  # a context row: nothing dissected again
    assert offsets.replay.replayed == before
    rnd = random.Random(9).sample(range(n), 300)
    _same(copied, offsets, rnd, "long streams")
    assert [_text(f) for f in offsets.frames(0, 1500)] == [_text(copied.frame(i)) for i in range(1500)]


def test_a_capture_rewritten_in_place_is_never_shown_as_the_loaded_one(tmp_path, corpus_files):
    """`tcpdump -w cap.pcap` again while the UI shows cap.pcap truncates and rewrites the same inode: the
    stored checksums notice, and the rows are shown with their summary and no bytes, with the reason."""
    path = tmp_path / "cap.pcap"
    path.write_bytes(DEMO.read_bytes())
    store = _load(FileSource(str(path)))
    n = store.count
    other = next(p for p in corpus_files if "100KB" in p.name).read_bytes()
    with open(path, "r+b") as f:  # the same inode, other bytes (longer than the demo)
        f.write(other)
    for i in (n - 1, 3, 0):
        fr = store.frame(i)
        assert fr.data == b"" and fr.number == i + 1 and fr.info == store.info(i)
        assert "changed on disk" in store.file_error
        assert fr.tree()  # the frame layer still says what was there
    assert all(f.data == b"" for f in store.frames(0, n))
    assert RowAccess(store).pdu_view(2) is None
    with pytest.raises(OSError, match="changed on disk"):
        store.raw(1)


def _idle_ipv6_capture(path, seq: int, ts: int, linktype: int) -> None:
    """An idle MQTT connection over IPv6 as `tcpdump -i any` (LINUX_SLL2, 276) or on Ethernet (1) writes it:
    20 PINGREQ/PINGRESP pairs, every frame the same size; `seq` and `ts` set its sequence numbers and TCP
    timestamps (another capture of such a connection differs only there and in the TCP checksum)."""
    client, server = bytes(15) + b"\x01", bytes(15) + b"\x02"
    frames = []
    cseq, sseq = seq, seq * 3 + 17
    for i in range(20):
        t = ts + 60 * i
        for out, payload in ((True, b"\xc0\x00"), (False, b"\xd0\x00")):
            sport, dport = (40000, 1883) if out else (1883, 40000)
            s_, a_ = (cseq, sseq) if out else (sseq, cseq)
            opts = b"\x01\x01\x08\x0a" + struct.pack("!II", t, t + 5)
            tcp = struct.pack("!HHIIBBHHH", sport, dport, s_, a_, 8 << 4, 0x18, 502, (s_ * 7 + t) & 0xFFFF, 0) + opts
            ip6 = struct.pack("!IHBB", 0x60012345, len(tcp) + 2, 6, 64) + (client + server if out else server + client)
            if linktype == 276:
                link = struct.pack("!HHIHBB", 0x86DD, 0, 2, 1, 4 if out else 0, 6) + b"\x02\x42\xac\x11\x00\x02\x00\x00"
            else:
                link = b"\x02\x42\xac\x11\x00\x02\x02\x42\xac\x11\x00\x03\x86\xdd"
            frames.append((t, link + ip6 + tcp + payload))
            if out:
                cseq += 2
            else:
                sseq += 2
    sink = PcapWriter(str(path), linktype)
    for i, (t, d) in enumerate(frames):
        sink.write(t * 1_000_000 + i, d)
    sink.close()


@pytest.mark.parametrize("linktype", [276, 1], ids=["linux-sll2", "ethernet"])
def test_another_capture_of_an_idle_ipv6_connection_is_noticed(tmp_path, linktype):
    """Rewritten in place by a capture of the same idle connection taken later: every frame the same size at
    the same offset, the same addresses and ports, and (IPv6) no IP id or checksum; only the TCP header's
    numbers differ, which behind a cooked header begin after byte 60. The stored check must reach them."""
    path = tmp_path / "idle.pcap"
    _idle_ipv6_capture(path, 1000, 5000, linktype)
    store = _load(FileSource(str(path)))
    assert store.count == 40 and all(store._off[i] & FILE_ROW for i in range(40))
    _idle_ipv6_capture(tmp_path / "later.pcap", 777777, 9999999, linktype)
    with open(path, "r+b") as f:
        f.write((tmp_path / "later.pcap").read_bytes())
    assert os.path.getsize(path) == os.path.getsize(tmp_path / "later.pcap")
    for i in (0, 5, 39):
        with pytest.raises(OSError, match="changed on disk"):
            store.raw(i)


def test_the_ui_says_the_file_changed_instead_of_failing(tmp_path, corpus_files):
    from sniffer.ui.app import SnifferApp
    from tests.ui_helpers import run, settle

    path = tmp_path / "cap.pcap"
    path.write_bytes(DEMO.read_bytes())

    async def go():
        app = SnifferApp(FileSource(str(path)), Dissector())
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            with open(path, "r+b") as f:
                f.write(next(p for p in corpus_files if "100KB" in p.name).read_bytes())
            app.store.replay._frames.clear()
            app.store.replay._streams.clear()
            await pilot.press("down", "down")
            await pilot.pause(0.2)
            assert "changed on disk" in app.status_text()
            assert app._sel_frame is not None and app._sel_frame.data == b""

    run(go())


def _live(path, batch: int = 0, **kw):
    """Load a capture as a live capture would arrive (MemorySource(live=True)): rows keep their bytes
    in the spill, not their context, and are dissected again when read."""
    from sniffer.net.pcapfile import open_capture
    from sniffer.source import MemorySource

    recs = list(open_capture(str(path)))
    src = MemorySource(None if batch else recs, live=True)
    for k in range(0, len(recs) if batch else 0, batch or 1):
        src.push(recs[k : k + batch])
    src.finish()
    return _load(src, **kw)


def test_live_rows_keep_bytes_not_context_and_rebuild_exactly(corpus_files, interleaved):
    for path in [DEMO, *corpus_files, interleaved]:
        copied = _load(source.FileSource(str(path), exact=True))
        copied._iface_ids = None  # (a pcapng's interface: the live source has none to give its rows)
        live = _live(path)
        n = copied.count
        assert live.count == n
        assert all(live.is_replayed_row(i) and not live.is_file_row(i) for i in range(n)), path
        rows = list(range(n))
        _same(copied, live, reversed(rows[-300:]), (path, "live backwards"))
        _same(copied, live, random.Random(2).sample(rows, min(n, 300)), (path, "live random"))
        assert [_text(f) for f in live.frames(0, min(n, 1500))] == [
            _text(copied.frame(i)) for i in range(min(n, 1500))
        ], path
        assert [live.raw(i) for i in rows[:50]] == [copied.raw(i) for i in rows[:50]]
        a, b = RowAccess(copied), RowAccess(live)
        for i in range(min(n, 500)):
            va, vb = a.pdu_view(i), b.pdu_view(i)
            assert (va is None) == (vb is None) and (va is None or va.data == vb.data), (path, i)
    size = os.path.getsize(interleaved)
    assert live.spill_bytes() < copied.spill_bytes() < 3 * size  # bytes and annotations, no context


def test_a_stream_s_rows_are_found_from_any_start(interleaved):
    store = _load(FileSource(str(interleaved)))
    for s in range(4):
        every = [i for i in range(store.count) if store.stream(i) == s]
        assert list(store.stream_rows(s)) == every
        mid = every[len(every) // 2]
        assert list(store.stream_rows(s, mid)) == [i for i in every if i >= mid]


@pytest.mark.parametrize("live", [False, True])
def test_checkpoints_let_long_streams_be_rebuilt_from_their_middle(monkeypatch, interleaved, live):
    """Every few frames of a stream the loader saves its state; a frame is rebuilt from the last such
    checkpoint before it, exactly, and rows stay file (or spill) rows however long the stream."""
    import sniffer.store as st

    monkeypatch.setattr(st, "REPLAY_MAX", 40)
    monkeypatch.setattr(st, "CHECK_EVERY", 20)
    copied = _load(source.FileSource(str(interleaved), exact=True))
    if live:
        again = _live(interleaved, batch=16)  # (checkpoints come after a batch: 16 + 20 <= 40)
    else:
        src = FileSource(str(interleaved))
        src.batch_size = 16
        again = _load(src)
    n = again.count
    assert all(again.is_replayed_row(i) for i in range(n))  # every checkpoint could be taken
    rows = again.stream_rows(0)
    assert len(rows) > 100 and len(again._ckpts[0]) >= 2
    before = again.replay.replayed
    again.frame(rows[-1])
    assert again.replay.replayed - before <= 40 + 256  # from a checkpoint, not from the stream's start
    _same(copied, again, random.Random(4).sample(range(n), 400), ("checkpoints", live))
    _same(copied, again, reversed(rows), ("checkpoints, a stream backwards", live))


def test_a_stream_reusing_ports_shows_its_syn_as_loaded(tmp_path, root):
    """A device that comes back from a reset on its old source port (a real mosquitto on lo): the new
    stream's SYN says `[TCP Port numbers reused]` and carries the earlier conversation's completeness. A
    replay of that stream from its start knows neither (it showed `Incomplete (0)` and no flag, and a state
    after it that can differ), so its rows keep their context until the loader saves the stream's state,
    and later rows are replayed from there; every row, read in any order, is the frame the load made."""
    from tests.test_tcp_analysis import RECONNECT, captured_on_lo

    pcap, decode = captured_on_lo(tmp_path, RECONNECT)
    port = int(decode[1].split("==")[1].split(",")[0])
    copied = _load(source.FileSource(str(pcap), exact=True), mqtt_ports=(1883, port))
    src = FileSource(str(pcap))
    src.batch_size = 4  # (batches of 4 frames: the stream goes on after the batch of its SYN)
    offsets = _load(src, mqtt_ports=(1883, port))
    n = copied.count
    reused = [i for i in range(n) if copied.frame(i).info.startswith("[TCP Port numbers reused]")]
    first = next(i for i in range(n) if copied.frame(i).stream == 1)  # the second connection's SYN
    assert reused == [first], [copied.frame(i).info for i in range(n)]  # (frame 11 here, as tshark's)
    syn = tree_lines(copied.frame(first).tree(), show_secrets=True)
    assert "    [Conversation completeness: Incomplete, SYN_SENT (1)]" in syn
    stream = copied.frame(first).stream
    rows = [i for i in range(n) if copied.frame(i).stream == stream]
    kept = [i for i in range(n) if not offsets.is_file_row(i)]  # the others are read from the file
    assert kept == [i for i in rows if i < (first // 4 + 1) * 4]  # its rows to the end of the SYN's batch
    assert len(rows) > 4 and offsets.checkpoint_before(stream, len(rows) - 1) is not None
    _same(copied, offsets, reversed(range(n)), "backwards")
    _same(copied, offsets, [rows[-1], first, rows[-2], first + 1, 0], "the new stream first")


def _mutated(path, out, rng: random.Random) -> None:
    """`path`'s frames with bytes changed, cut or inserted here and there, the whole sent twice (every
    connection then reuses its ports), in time order or shuffled: what a broken stack or a fuzzer sends."""
    from sniffer.net.pcapfile import open_capture

    recs = list(open_capture(str(path)))
    frames = []
    for ts, data, orig_len, _lt in recs:
        d, r = bytearray(data), rng.random()
        if d and r < 0.25:
            for _ in range(rng.randint(1, 4)):
                d[rng.randrange(len(d))] = rng.randrange(256)
        elif d and r < 0.35:
            d = d[: rng.randrange(len(d))]
        elif d and r < 0.4:
            at = rng.randrange(len(d))
            d[at:at] = rng.randbytes(rng.randint(1, 40))
        frames.append((ts, bytes(d), max(orig_len, len(d)) if rng.random() < 0.9 else len(d)))
    frames = frames * 2
    if rng.random() < 0.3:
        rng.shuffle(frames)
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, recs[0][3]))
        for ts, d, orig_len in frames:
            us = int(ts * 1e6)
            f.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(d), orig_len) + d)


def test_mutated_captures_rebuild_as_loaded(corpus_files, tmp_path):
    """Every public capture and the demo, mutated (see _mutated), loaded as the UI loads a file (rows read
    again from the file, batches of a few frames so that streams get checkpoints) and with every row's
    context: each row, read in a random order, is the frame the load made. (This found the reused ports of
    test_a_stream_reusing_ports_shows_its_syn_as_loaded.)"""
    rng = random.Random(2026)
    reused = 0
    for k, path in enumerate([DEMO, *corpus_files] * 3):
        out = tmp_path / f"m{k}.pcap"
        _mutated(path, out, rng)
        copied = _load(source.FileSource(str(out), exact=True))
        src = FileSource(str(out))
        src.batch_size = rng.choice([3, 7, 2000])
        offsets = _load(src)
        n = copied.count
        assert offsets.count == n > 0
        reused += sum(fr.seg is not None and fr.seg.reopens for fr in map(copied.frame, range(n)))
        _same(copied, offsets, rng.sample(range(n), min(n, 300)), (path.name, "random"))
    assert reused > 10  # streams on an earlier one's ports: the case that differed is among them


def test_a_websocket_stream_saved_before_its_upgrade_rebuilds_as_loaded(tmp_path):
    """A stream's state saved before its first bytes must leave its MQTT connection undecided: a WebSocket
    Upgrade (on any port) decides it later. Saved so: a device reconnecting from its old port (its state is
    saved right after the SYN's batch), a bounded UI's store rolling over during a handshake. The replay took
    such a state for "not MQTT" and showed the stream's Upgrade, WebSocket and MQTT frames as bare TCP."""
    from sniffer.synth import mqtt_encode as E
    from sniffer.synth.flows import TcpFlow
    from tests.test_ws import SWITCHED, UPGRADE, wsframe

    pcap = tmp_path / "ws-reconnect.pcap"
    with PcapWriter(str(pcap)) as w:
        t = 1_700_000_000_000_000
        for k in range(2):  # the same client port twice, a new ISN each time
            flow = TcpFlow(w, client=("192.168.1.20", 50000), server=("10.0.0.1", 8083), isn=(1000 + k, 9000 + k))
            t = flow.open(t + 1000)
            t = flow.send(0, UPGRADE, t + 1000)
            t = flow.send(1, SWITCHED, t + 1000)
            t = flow.send(0, wsframe(2, E.connect(f"ws-dev{k}")), t + 1000)
            t = flow.send(1, wsframe(2, E.connack(), key=None), t + 1000)
            t = flow.send(0, wsframe(2, E.publish("a/b", b"x" * 300, qos=1, msgid=1)), t + 1000)
            t = flow.send(1, wsframe(2, E.puback(1), key=None), t + 1000)
            t = flow.close(t + 1000)
    copied = _load(source.FileSource(str(pcap), exact=True))
    src = FileSource(str(pcap))
    src.batch_size = 3  # (the second stream's state is saved after its SYN's batch, before the Upgrade)
    offsets = _load(src)
    n = copied.count
    second = [i for i in range(n) if copied.frame(i).stream == 1]
    assert copied.frame(second[0]).info.startswith("[TCP Port numbers reused]")
    mqtt = [i for i in second if copied.frame(i).proto == "MQTT"]
    assert len(mqtt) == 4 and all(offsets.is_file_row(i) for i in mqtt)  # rebuilt from the file
    _same(copied, offsets, reversed(range(n)), "backwards")
    _same(copied, offsets, mqtt, "its MQTT frames first")
