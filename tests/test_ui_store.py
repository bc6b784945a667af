"""The packet store: rows and frames rebuilt from the spill are exactly what the dissector produced."""

from __future__ import annotations

import struct

from sniffer.filter.rows import RowAccess
from sniffer.net.pcapfile import open_capture
from sniffer.output.text import hex_sources, tree_lines
from sniffer.pipeline import Dissector
from sniffer.session.tracker import fill
from sniffer.store import PacketStore, colour_class
from sniffer.ui.save import write_pcapng
from tests.ui_helpers import CORPUS, DEMO


def _load(path):
    d, s, frames = Dissector(record=True), PacketStore(), []
    s.backfill = d.tracker.backfill  # as the UI does: responses fill their requests in
    for n, (ts, data, ol, lt) in enumerate(open_capture(str(path)), 1):
        f = d.frame(n, ts, lt, data, ol)
        s.add(f)
        frames.append(f)
    for f in frames:  # what later frames said of earlier ones, as the store applies it
        fill(f.pdus, d.tracker.backfill.get(f.number))
    return s, frames


def test_frames_rebuilt_from_the_store_match_the_dissector(corpus_files):
    for path in [DEMO, *corpus_files]:
        store, frames = _load(path)
        batch = store.frames(0, store.count)
        for i, f in enumerate(frames):
            for g in (store.frame(i), batch[i]):
                assert tree_lines(g.tree(), show_secrets=True) == tree_lines(f.tree(), show_secrets=True), (path, i)
                assert hex_sources(g, g.tree(), True) == hex_sources(f, f.tree(), True)
            assert store.row(i) == (f.number, f.rel_ts, f.src, f.dst, f.proto, f.orig_len, f.info, colour_class(f))
        assert store.context_failures == 0


def test_rows_are_compact(corpus_files):
    store, frames = _load(DEMO)
    # columns + Info text + interned strings; the frame bytes live in the spill file
    assert store.ram_bytes() / store.count < 200
    assert store.spill_bytes() > sum(len(f.data) for f in frames)


def test_raw_frames_and_pcapng_round_trip(tmp_path):
    store, frames = _load(DEMO)
    recs = list(open_capture(str(DEMO)))
    assert [store.raw(i)[1:] for i in range(store.count)] == [r[1:] for r in recs]
    out = tmp_path / "x.pcapng"
    assert write_pcapng(str(out), store, range(store.count)) == len(recs)
    back = list(open_capture(str(out)))
    assert [b[1:] for b in back] == [r[1:] for r in recs]


def test_a_range_of_frames_straddling_the_last_flush(corpus_files):
    """A filter rescan reads many records at once, some on disk and some not yet flushed."""
    import sniffer.store as st

    path = next(p for p in corpus_files if "100KB" in p.name)
    old = st._FLUSH_AT
    st._FLUSH_AT = 50_000  # flush every few frames
    try:
        store, frames = _load(path)
    finally:
        st._FLUSH_AT = old
    assert 0 < store._flushed < store.spill_bytes()  # some records are still pending
    batch = store.frames(0, store.count)
    assert [tree_lines(g.tree()) for g in batch] == [tree_lines(f.tree()) for f in frames]


def test_info_text_in_compressed_blocks(monkeypatch, corpus_files):
    """Info lives in zlib blocks of INFO_BLOCK rows plus an open tail; every row reads back exactly."""
    import sniffer.store as st

    monkeypatch.setattr(st, "INFO_BLOCK", 7)
    path = next(p for p in corpus_files if "100KB" in p.name)
    store, frames = _load(path)
    assert len(store._iblocks) == len(frames) // 7 and store.count % 7
    order = list(range(store.count))
    for i in order + order[::-3]:  # forwards, then jumping back across blocks
        assert store.info(i) == frames[i].info, i


def test_frame_reader_dense_and_sparse(corpus_files):
    """The filter's frame reader (chunked reads, MQTT Info left to the Frame) rebuilds exact Frames."""
    for path in [DEMO, *corpus_files]:
        store, frames = _load(path)
        n = store.count
        for order in (range(n), range(0, n, 11), range(n - 1, -1, -5)):
            frame_at = store.frame_reader(chunk=16)
            for i in order:
                g, f = frame_at(i), frames[i]
                assert frame_at(i) is g  # the last Frame is kept (several tests of one row share it)
                assert g.info == f.info and g.addrs == f.addrs, (path, i)
                assert tree_lines(g.tree(), show_secrets=True) == tree_lines(f.tree(), show_secrets=True), (path, i)


def test_pdu_view_and_shared_bytes(corpus_files):
    """A single PDU lying whole in its frame is read back without unpickling, byte for byte; the
    context does not store such bytes a second time."""
    for path in [DEMO, *corpus_files]:
        store, frames = _load(path)
        rows = RowAccess(store)
        viewed = 0
        for i, f in enumerate(frames):
            v = rows.pdu_view(i)
            if v is None:
                continue
            viewed += 1
            p = f.pdus[0]
            assert (v.data, v.hdr_len, v.msgtype, v.flags) == (p.data, p.hdr_len, p.msgtype, p.flags), (path, i)
            assert v.version == (p.version or 0)
        one = sum(1 for f in frames if len(f.pdus) == 1 and f.pdus[0].error is None and f.pdu_location(f.pdus[0]))
        assert viewed == one, (path, viewed, one)
    from sniffer.store import _MIN_SHARED

    # PDU bytes lying whole in the frame are not stored twice: the context holds a reference, not them
    store, frames = _load(DEMO)
    checked = 0
    for f in frames:
        ctx = store._context(f)
        for p in f.pdus:
            if len(p.data) >= _MIN_SHARED and f.pdu_location(p):
                assert p.data not in ctx, f.number
                checked += 1
    assert checked >= 10


class _Topic(str):
    """A str subclass: marshal cannot write it, pickle can."""


def test_a_context_marshal_cannot_write_is_pickled_and_rebuilt():
    """The context is written with marshal (plain tuples, several times faster than pickle); a value
    marshal does not know falls back to pickle, and the frame is rebuilt all the same."""
    d, store = Dissector(), PacketStore()
    marshalled = pickled = 0
    for n, (ts, data, ol, lt) in enumerate(open_capture(str(DEMO)), 1):
        f = d.frame(n, ts, lt, data, ol)
        want = tree_lines(f.tree(), show_secrets=True)
        for p in f.pdus:
            if p.topic is not None:
                p.topic = _Topic(p.topic)
        ctx = store._context(f)
        marshalled += bool(ctx) and ctx[0] != 0x80
        pickled += bool(ctx) and ctx[0] == 0x80
        row = store.add(f)
        assert tree_lines(store.frame(row).tree(), show_secrets=True) == want, n
    assert pickled >= 5 and marshalled >= 10, (pickled, marshalled)
    assert store.context_failures == 0


def test_a_large_reassembled_payload_is_stored_compressed_and_rebuilt(tmp_path):
    """A PUBLISH reassembled from many segments carries its whole payload in the context of the frame
    that completes it (the bytes lie in no one frame): such contexts are stored zlib-compressed, and
    the frame is rebuilt with the dissector's tree, bytes panes and payload."""
    import json

    from sniffer.store import _COMPRESS_AT
    from sniffer.synth import mqtt_encode as E
    from sniffer.synth.flows import TcpFlow
    from sniffer.synth.pcap_write import FrameList

    doc = json.dumps({"readings": [{"sensor": f"s{i}", "value": i * 0.5, "unit": "C"} for i in range(600)]})
    fl = FrameList()
    flow = TcpFlow(fl, client=("10.0.0.2", 40000))
    t = flow.open(1_700_000_000_000_000)
    t = flow.send(0, E.connect("big"), t + 1000)
    t = flow.send(1, E.connack(), t + 1000)
    t = flow.send(0, E.publish("plant/line1/batch", doc.encode()), t + 1000)
    path = tmp_path / "big.pcap"
    fl.save(str(path))
    d, store = Dissector(), PacketStore()
    frames, sizes, packed = [], [], []
    for n, (ts, data, ol, lt) in enumerate(open_capture(str(path)), 1):
        f = d.frame(n, ts, lt, data, ol)
        ctx = store._context(f)
        frames.append((store.add(f), f, tree_lines(f.tree(), show_secrets=True), f.sources()))
        if ctx and ctx[0] == 0x78:
            packed.append(f)
            sizes.append(len(ctx))
    assert len(doc) > 10 * _COMPRESS_AT
    assert [len(f.pdus) for f in packed] == [1] and packed[0].pdus[0].data.endswith(doc.encode())
    assert sizes[0] < len(doc) / 3  # stored compressed, not as the payload itself
    for row, f, tree, panes in frames:
        g = store.frame(row)
        assert tree_lines(g.tree(), show_secrets=True) == tree, f.number
        assert g.sources() == panes, f.number
    assert store.context_failures == 0


def test_rows_put_in_batches_are_read_only_once_published_and_as_if_added_one_by_one(corpus_files):
    """The loader put()s a batch of rows and publish()es it: until then `count` leaves them out (the UI
    thread never reads a half-written batch); once published, every column, the Info text, the
    filter's index and the rebuilt frames are those of the same rows added one at a time (file rows,
    live rows with their bytes in the spill, rows with their context)."""
    from sniffer.ui.loader import replay_dissector

    for path in [DEMO, *corpus_files[:6]]:
        d = Dissector(record=True)
        reader = open_capture(str(path))
        reader.exact = True
        rows = [
            (d.frame(n, ts, lt, data, ol), reader.ticks, reader.tsresol, reader.offset)
            for n, (ts, data, ol, lt) in enumerate(reader, 1)
        ]
        for mode in ("file", "live", "context"):
            one, batched = PacketStore(), PacketStore()
            for s in (one, batched):
                s.backfill = d.tracker.backfill
                if mode != "context":
                    s.attach_file(str(path) if mode == "file" else None, replay_dissector(d))
            for k in range(0, len(rows), 7):
                for f, ticks, tsresol, foff in rows[k : k + 7]:
                    foff = foff if mode == "file" else -1
                    assert one.add(f, ticks, tsresol, foff) == one.count - 1
                    assert batched.put(f, ticks, tsresol, foff) == one.count - 1
                assert batched.count == k  # put, not yet published
                batched.publish()
                assert batched.count == one.count
            assert any(one.is_file_row(i) for i in range(one.count)) == (mode == "file")
            for i in range(one.count):
                assert batched.row(i) == one.row(i), (path, mode, i)
                assert (batched.exact_ts(i), batched.stream(i), batched.severity(i)) == (
                    one.exact_ts(i),
                    one.stream(i),
                    one.severity(i),
                )
                assert batched.raw(i) == one.raw(i)
                assert tree_lines(batched.frame(i).tree(), True) == tree_lines(one.frame(i).tree(), True)
            for name in ("orig_len", "cap_len", "stream", "src", "dst"):
                assert batched.column(name) == one.column(name)
            for col in ("mq", "mlen", "topic", "ports", "tcpw", "props"):
                assert len(getattr(batched.index, col)) == batched.count
            for col in ("mq", "mlen", "topic", "ports", "tcpw", "props", "more", "tlist", "topics"):
                assert getattr(batched.index, col) == getattr(one.index, col), (path, mode, col)


def _edge_pcapng(path) -> None:
    """The demo's frames, with non-TCP frames (ARP, UDP over IPv4 and IPv6: no TCP stream), frames cut
    short (original length above the captured one) and timestamps of 2^63 ticks and more among them."""
    eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01"
    arp = eth + b"\x08\x06" + bytes.fromhex("0001080006040001") + b"\x02" + bytes(5) + bytes([10, 0, 0, 1]) + bytes(10)
    udp4 = eth + b"\x08\x00" + bytes.fromhex("4500002a000040004011") + bytes(2) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    udp4 += bytes.fromhex("1388075b00160000") + b"x" * 14
    udp6 = eth + b"\x86\xdd" + bytes.fromhex("600000000008" + "1140") + bytes(15) + b"\x01" + bytes(15) + b"\x02"
    udp6 += bytes.fromhex("1388075b00080000")
    odd = [arp, udp4, udp6]
    frames = []
    malformed = CORPUS / "mqtt5_malformed_connect-excessive-property-length__suricata-verify.pcap"
    demo = [*open_capture(str(DEMO)), *open_capture(str(malformed))]
    for k, (_ts, data, _ol, _lt) in enumerate(demo):
        frames.append((data, len(data)))
        if k % 5 == 0:
            frames.append((odd[k % 3], len(odd[k % 3])))
        if k % 7 == 3:
            frames.append((data[:54], len(data) + 100_000))

    def block(btype: int, body: bytes) -> bytes:
        return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    out = [
        block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
        block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHB3x", 9, 1, 9) + bytes(4)),  # ns resolution
    ]
    ticks = [0, 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64 - 2]
    for k, (data, ol) in enumerate(frames):
        t = ticks[k] if k < len(ticks) else 1_700_000_000_000_000_000 + k * 1_234_567
        body = struct.pack("<IIIII", 0, t >> 32, t & 0xFFFF_FFFF, len(data), ol) + data + bytes(-len(data) % 4)
        out.append(block(6, body))
    path.write_bytes(b"".join(out))


def test_every_column_holds_the_frames_own_value(tmp_path):
    """Each column a row keeps (written as bytes when put: sniffer.colbuf) reads back as the value of the
    frame it was put from, at the edges of its range: stream -1, an original length above the captured
    one, 64-bit ticks, the colour class's flags, the expert level; in file, live and context rows."""
    from sniffer.expert_level import frame_level
    from sniffer.ui.loader import replay_dissector

    path = tmp_path / "edge.pcapng"
    _edge_pcapng(path)
    d = Dissector(record=True)
    reader = open_capture(str(path))
    reader.exact = True
    rows = []
    for n, (ts, data, ol, lt) in enumerate(reader, 1):
        rows.append((d.frame(n, ts, lt, data, ol), reader.ticks, reader.tsresol, reader.offset))
    frames = [r[0] for r in rows]
    # the edges are there
    assert any(f.stream == -1 for f in frames) and any(f.stream > 0 for f in frames)
    assert any(f.orig_len > len(f.data) for f in frames)
    assert {2**63 - 1, 2**63, 2**64 - 1} <= {r[1] for r in rows}
    assert any(frame_level(f) for f in frames) and any(colour_class(f) > 0x3F for f in frames)
    for mode in ("file", "live", "context"):
        store = PacketStore()
        store.backfill = d.tracker.backfill
        if mode != "context":
            store.attach_file(str(path) if mode == "file" else None, replay_dissector(d))
        for k in range(0, len(rows), 5):
            for f, ticks, tsresol, foff in rows[k : k + 5]:
                store.put(f, ticks, tsresol, foff if mode == "file" else -1)
            store.publish()
        assert store.count == len(rows)
        for i, (f, ticks, tsresol, _foff) in enumerate(rows):
            got = (
                (store.ts(i), store.exact_ts(i), store.rel_ts(i), store.src(i), store.dst(i), store.proto(i)),
                (store.orig_len(i), store.stream(i), store.cls(i), store.severity(i), store.info(i), store.raw(i)),
            )
            want = (
                (f.ts, (ticks, tsresol), f.rel_ts, f.src, f.dst, f.proto),
                (f.orig_len, f.stream, colour_class(f), frame_level(f), f.info, (f.ts, f.data, f.orig_len, f.linktype)),
            )
            assert got == want, (mode, i)
