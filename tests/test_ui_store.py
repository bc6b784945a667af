"""The packet store: rows and frames rebuilt from the spill are exactly what the dissector produced."""

from __future__ import annotations

from sniffer.net.pcapfile import open_capture
from sniffer.output.text import hex_sources, tree_lines
from sniffer.pipeline import Dissector
from sniffer.store import PacketStore
from sniffer.ui.save import write_pcapng
from tests.ui_helpers import DEMO


def _load(path):
    d, s, frames = Dissector(), PacketStore(), []
    for n, (ts, data, ol, lt) in enumerate(open_capture(str(path)), 1):
        f = d.frame(n, ts, lt, data, ol)
        s.add(f)
        frames.append(f)
    return s, frames


def test_frames_rebuilt_from_the_store_match_the_dissector(corpus_files):
    for path in [DEMO, *corpus_files]:
        store, frames = _load(path)
        batch = store.frames(0, store.count)
        for i, f in enumerate(frames):
            for g in (store.frame(i), batch[i]):
                assert tree_lines(g.tree(), show_secrets=True) == tree_lines(f.tree(), show_secrets=True), (path, i)
                assert hex_sources(g, g.tree(), True) == hex_sources(f, f.tree(), True)
            assert store.row(i) == (f.number, f.rel_ts, f.src, f.dst, f.proto, f.orig_len, f.info, store.cls(i))
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
