"""A bounded UI (--keep-frames): the list goes on in a new store when one is full, older frames leave it,
and every frame kept is still exactly the frame the load made (number, time, tree, bytes)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import threading
import time

import pytest

from sniffer import source
from sniffer.filter.rows import RowAccess
from sniffer.pipeline import Dissector
from sniffer.store import PacketStore
from sniffer.ui.loader import Loader
from sniffer.ui.sources import FileSource
from tests.test_ui_store_file import REPO, _text
from tests.ui_helpers import DEMO, wait_for


class Recording(Loader):
    """A loader that keeps the stores it leaves behind (the app closes them), to compare every row."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.stores: list[PacketStore] = []

    def _next_store(self) -> None:
        self.stores.append(self.store)
        super()._next_store()

    def _forget_backfill(self, upto: int) -> None:
        pass  # (the stores kept here are compared whole; test_the_backfill_of_frames_that_left_is_dropped)


def _load(src, keep: int = 0) -> tuple[PacketStore, list[PacketStore]]:
    store = PacketStore()
    d = Dissector(record=True)
    store.backfill = d.tracker.backfill
    loader = Recording(src, store, d)
    loader.keep = keep
    loader.start()
    assert loader.done.wait(120)
    assert loader.error is None, loader.error
    assert loader.left == loader.store.number_base
    return loader.store, [*loader.stores, loader.store]


def _copied(path) -> PacketStore:
    """The whole file loaded with every row's context (an unbounded store): what each kept row must equal."""
    copied = PacketStore()
    d = Dissector(record=True)
    copied.backfill = d.tracker.backfill
    full = Loader(source.FileSource(str(path), exact=True), copied, d)
    full.start()
    assert full.done.wait(120) and full.error is None
    return copied


async def _listed(pilot, n: int) -> None:
    """Wait (up to 10 s) until the app's list shows `n` rows."""
    for _ in range(200):
        await pilot.pause(0.05)
        if pilot.app.plist.count >= n:
            return
    raise AssertionError(f"the list shows {pilot.app.plist.count} rows, not {n}")


def _live_source(path, batch: int):
    from sniffer.net.pcapfile import open_capture
    from sniffer.source import MemorySource

    recs = list(open_capture(str(path)))
    src = MemorySource(None, live=True)
    for k in range(0, len(recs), batch):
        src.push(recs[k : k + batch])
    src.finish()
    return src


@pytest.fixture(scope="module")
def interleaved(tmp_path_factory):
    """40 clients whose streams interleave and run across every store of a bounded load."""
    out = tmp_path_factory.mktemp("gen") / "gen.pcap"
    subprocess.run(
        [sys.executable, f"{REPO}/bench/gen_capture.py", str(out), "--frames", "5000", "--clients", "40",
         "--seed", "7", "--large-share", "0.02"],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


def _check_generations(copied: PacketStore, stores: list[PacketStore], keep: int, batch: int, label) -> None:
    """Each store numbers on from a frame of the one before (the next store takes the newest half of
    the frames beside it: no gap), holds at most keep + one batch, and every way of reading its rows
    gives the frames of the unbounded load."""
    assert stores[0].number_base == 0, label
    for a, b in zip(stores, stores[1:], strict=False):
        assert a.number_base < b.number_base <= a.number_base + a.count, label
        assert b.count >= keep // 2 or b is stores[-1], label  # (the list never starts empty)
    assert stores[-1].number_base + stores[-1].count == copied.count, label
    for g, st in enumerate(stores):
        base = st.number_base
        assert 0 < st.count <= keep + batch, (label, g, st.count)
        n = st.count
        rows = list(range(n))
        for i in random.Random(g).sample(rows, min(n, 150)):
            assert _text(st.frame(i)) == _text(copied.frame(base + i)), (label, g, "random", i)
        for i in reversed(rows[-100:]):
            assert _text(st.frame(i)) == _text(copied.frame(base + i)), (label, g, "backwards", i)
        assert [_text(f) for f in st.frames(0, n)] == [_text(copied.frame(base + i)) for i in rows], (label, g)
        at = st.frame_reader()
        for i in range(0, n, 5):
            assert _text(at(i)) == _text(copied.frame(base + i)), (label, g, "reader", i)
        assert [st.row(i) for i in rows[:: max(1, n // 50)]] == [
            copied.row(base + i) for i in rows[:: max(1, n // 50)]
        ], (label, g)


@pytest.mark.parametrize("live", [False, True])
def test_a_bounded_load_keeps_every_kept_frame_exact(interleaved, live):
    keep, batch = 700, 16
    copied = _copied(interleaved)
    if live:
        src = _live_source(interleaved, batch)
    else:
        src = FileSource(str(interleaved))
        src.batch_size = batch
    last, stores = _load(src, keep)
    assert len(stores) >= 5
    # the streams that span stores carry their state over: their rows are rebuilt, not copied
    later = [st for st in stores[1:]]
    replayed = sum(st.is_replayed_row(i) for st in later for i in range(st.count))
    assert replayed > 0.95 * sum(st.count for st in later)
    assert any(st.carried_states() for st in later)
    _check_generations(copied, stores, keep, batch, ("live" if live else "file", interleaved.name))


def test_bounded_loads_of_the_corpus_are_exact(corpus_files):
    for path in [DEMO, *corpus_files]:
        copied = _copied(path)
        copied._iface_ids = None  # (a pcapng's interface: the live source below has none to give its rows)
        keep = max(20, copied.count // 4)
        _, stores = _load(_live_source(path, 8), keep)
        assert len(stores) >= 2 or copied.count < keep, path
        _check_generations(copied, stores, keep, 8, path)


def test_the_backfill_of_frames_that_left_is_dropped(interleaved):
    store = PacketStore()
    d = Dissector(record=True)
    store.backfill = d.tracker.backfill
    src = FileSource(str(interleaved))
    src.batch_size = 100
    loader = Loader(src, store, d)
    loader.keep = 1000
    loader.start()
    assert loader.done.wait(120) and loader.error is None
    base = loader.store.number_base
    assert base >= 4000 and store.backfill is loader.store.backfill
    kept = sorted(store.backfill)
    assert kept and all(n > base for n in kept)  # a late entry for a frame that left is not kept
    assert sum(n > base for n in kept) > 50


def test_a_display_filter_on_frame_numbers_counts_on(interleaved):
    last, stores = _load(FileSource(str(interleaved)), 1000)
    assert last.number_base > 0
    ra = RowAccess(last)
    get = ra.single_getter("frame.number")
    assert get is not None and get(0) == last.number_base + 1
    from sniffer.filter import compile_filter

    n = last.number_base + 10
    rows = compile_filter(f"frame.number <= {n}", last).matches
    assert [i for i in range(last.count) if rows(i)] == list(range(10))


def test_the_ui_follows_the_new_store_and_says_what_left(interleaved):
    """The app adopts each new store: the list numbers on, Go to on a frame that left says so, the
    stores left behind are closed, and the session views counted every frame."""
    from sniffer.ui.app import SnifferApp

    src = _live_source(interleaved, 32)

    async def go() -> None:
        app = SnifferApp(src, Dissector(), keep_frames=600)
        async with app.run_test(size=(160, 45)) as pilot:
            for _ in range(300):
                await pilot.pause(0.05)
                if app.loader.done.is_set() and app.store is app.loader.store:
                    break
            await pilot.pause(0.3)
            loader = app.loader
            assert loader.left > 4000 and app.store.number_base == loader.left
            assert app.store.count <= 600 + 32
            assert app.plist.store is app.store and app.plist.count == app.store.count
            assert app._retired == []  # nothing reads the old stores: closed
            assert f"{loader.left:,} left the list" in app.status_text()
            assert "left the list" in (app.frame_problem(1) or "")
            assert app.frame_problem(loader.left + 1) is None
            assert app.goto_frame(loader.left + 1)
            await pilot.pause(0.2)
            assert app._sel_frame is not None and app._sel_frame.number == loader.left + 1
            assert app.sessions.frames == loader.left + app.store.count  # the session views count them all
            app._find_done(None, 0, False, 1, PacketStore())  # a search that ran over a store left behind
            assert "moved on" in app.find_note and app._sel_frame.number == loader.left + 1
            assert app.apply_filter("mqtt")
            for _ in range(100):
                await pilot.pause(0.05)
                if not loader.scanning:
                    break
            assert 0 < app.plist.count <= app.store.count
            await pilot.press("q")

    asyncio.run(go())


def test_a_flow_view_keeps_the_store_it_shows_until_it_closes(interleaved):
    """A Flow view opened before the list moves to a new store keeps reading its own store, which stays
    open until the view closes; Enter on an arrow then says the frame left instead of selecting another."""
    from sniffer.net.pcapfile import open_capture
    from sniffer.source import MemorySource
    from sniffer.ui.app import SnifferApp
    from sniffer.ui.flow import FlowScreen

    recs = list(open_capture(str(interleaved)))
    src = MemorySource(None, live=True)
    src.push(recs[:400])

    async def go() -> None:
        app = SnifferApp(src, Dissector(), keep_frames=300)
        async with app.run_test(size=(160, 45)) as pilot:
            await _listed(pilot, 400)
            first = app.store
            app.plist.select_row(50)
            await pilot.pause(0.1)
            await pilot.press("F")
            await pilot.pause(0.3)
            assert isinstance(app.screen, FlowScreen) and app.screen.store is first
            src.push(recs[400:500])  # the store is full: these go to a new one
            for _ in range(200):
                await pilot.pause(0.05)
                if app.store is not first:
                    break
            # (the status tick, once a second, closes what nothing reads)
            await wait_for(pilot, lambda: app.store is not first and app._retired == [first], what="a retired store")
            assert first.frame(10).number == 11  # still readable: the view reads it
            await pilot.press("enter")  # an arrow's frame: of the store left behind
            await pilot.pause(0.3)
            assert not isinstance(app.screen, FlowScreen)
            await wait_for(pilot, lambda: app._retired == [], what="the old store closed")
            src.finish()
            await pilot.press("q")

    asyncio.run(go())


def test_a_graphs_view_scoped_to_a_topic_or_client_counts_on_across_stores(interleaved, monkeypatch):
    """A Graphs view scoped to one topic (then one client) while the list moves through several stores
    counts the frames the loader's store held when the scope was chosen and every frame after: what
    RateStat counts over those frames of the unbounded load, the frame at the boundary (one in scope)
    once. Its rows are read slowly here, so stores move on while a worker still reads one: that store
    stays open until the worker is done, and none is kept open after."""
    from sniffer.net.pcapfile import open_capture
    from sniffer.source import MemorySource
    from sniffer.stats.rates import RateStat
    from sniffer.ui import graphs
    from sniffer.ui.app import SnifferApp

    feed = graphs.RowFeeder.feed

    def slow_feed(self, start: int, end: int) -> None:
        time.sleep(0.3)
        feed(self, start, end)

    monkeypatch.setattr(graphs.RowFeeder, "feed", slow_feed)
    recs = list(open_capture(str(interleaved)))
    whole, _ = _load(FileSource(str(interleaved)))
    src = MemorySource(None, live=True)
    pushed = 0

    def push(upto: int) -> None:
        nonlocal pushed
        for k in range(pushed, upto, 32):
            src.push(recs[k : min(k + 32, upto)])
        pushed = max(pushed, upto)

    async def until(pilot, done, what) -> None:
        for _ in range(600):
            await pilot.pause(0.05)
            if done():
                return
        raise AssertionError(what if isinstance(what, str) else what())

    async def go() -> None:
        app = SnifferApp(src, Dissector(), keep_frames=400)
        async with app.run_test(size=(160, 45)) as pilot:
            model = app.sessions
            push(250)
            await until(pilot, lambda: model.frames == 250 and app.plist.count > 100, "the first frames")
            row = next(i for i in range(app.store.count) if any(p.msgtype == 3 for p in app.store.frame(i).pdus))
            app.plist.select_row(row)
            await pilot.pause(0.1)
            await pilot.press("i")
            await until(pilot, lambda: isinstance(app.screen, graphs.GraphsScreen), "the Graphs view")
            screen = app.screen
            topic, client = screen.topic, screen.client
            assert topic and client
            in_scope = {
                "topic": lambda f: any(p.msgtype == 3 and p.topic == topic for p in f.pdus),
                "client": lambda f: any(p.ann is not None and p.ann.client == client for p in f.pdus),
            }
            for scope, end in (("topic", 2500), ("client", len(recs))):
                # the last frame counted before the scope is chosen is one in scope (the boundary)
                push(next(i for i in range(pushed, end) if in_scope[scope](whole.frame(i))) + 1)
                await until(pilot, lambda: model.frames == pushed, "the frames pushed")
                base = app.loader.store.number_base  # the rows of the loader's store are read from here
                while screen.scope != scope:
                    await pilot.press("s")
                push(end)  # stores of 200 to 400 frames go by while the view reads one
                await until(
                    pilot,
                    lambda end=end: model.frames == end and screen.store is None and screen.seen == model.version
                    and not screen.busy,
                    lambda scope=scope: f"{scope}: the view read {screen.fed} rows, the model {model.frames} frames",
                )  # fmt: skip
                assert app.loader.left > base + 2000, scope
                want = RateStat(screen.stat.topic, screen.stat.client)
                for i in range(base, end):
                    want.frame(whole.frame(i))
                assert screen.data == (want.per_second(), want.per_second(True), want.ack_times()), scope
                assert want.ack_times() and sum(want.per_second(True)) > (10 if scope == "topic" else 0), scope
            await until(pilot, lambda: app._retired == [] and app._held == [], "stores left open")
            await pilot.press("escape")
            assert model.followers == []
            src.finish()
            await pilot.press("q")

    asyncio.run(go())


def test_a_store_a_graphs_worker_reads_stays_open_until_it_is_done(interleaved, monkeypatch):
    """The view closes while its worker still reads a store the list has left: the store is closed only
    once the worker is done, and the app goes on (a closed store's read would end it)."""
    from sniffer.net.pcapfile import open_capture
    from sniffer.source import MemorySource
    from sniffer.ui import graphs
    from sniffer.ui.app import SnifferApp

    feed = graphs.RowFeeder.feed
    reads: list[tuple[int, int]] = []
    gate = threading.Event()  # the worker reads once the test lets it (a sleep raced a loaded machine)

    def slow_feed(self, start: int, end: int) -> None:
        gate.wait(60)
        feed(self, start, end)
        reads.append((start, end))

    monkeypatch.setattr(graphs.RowFeeder, "feed", slow_feed)
    recs = list(open_capture(str(interleaved)))
    src = MemorySource(None, live=True)
    for k in range(0, 250, 25):
        src.push(recs[k : k + 25])

    async def go() -> None:
        app = SnifferApp(src, Dissector(), keep_frames=300)
        async with app.run_test(size=(160, 45)) as pilot:
            await _listed(pilot, 250)
            app.plist.select_row(next(i for i in range(250) if any(p.msgtype == 3 for p in app.store.frame(i).pdus)))
            await pilot.press("i")
            await pilot.pause(0.3)
            await pilot.press("s")  # a topic: its worker reads the store's rows (slowly)
            first = app.screen.store
            assert first is app.store and app._held == [first]
            for k in range(250, 1000, 25):
                src.push(recs[k : k + 25])
            await _listed(pilot, 1)
            for _ in range(40):
                await pilot.pause(0.05)
                if app.store is not first:
                    break
            await pilot.press("escape")  # the view closes while its worker reads `first`
            await pilot.pause(0.2)
            assert app._retired == [first] and not reads  # held open: the worker has not read yet
            gate.set()
            await wait_for(pilot, lambda: reads and app._retired == [] and app._held == [], what="the worker done")
            assert first.replay.store is None
            assert app.is_running
            src.finish()
            await pilot.press("q")

    asyncio.run(go())


def test_a_negative_keep_frames_is_one_line_and_exit_2():
    p = subprocess.run([sys.executable, "-m", "sniffer", "--demo", "--no-ui", "--keep-frames=-1"],
                       capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == ["mqttsniff: --keep-frames needs a number of frames (0: keep all)"]


def test_batches_large_beside_keep_frames_stay_within_keep_and_one_batch(interleaved, tmp_path):
    """A live capture delivers frames in batches of whatever the ring held: with batches of more than half
    of --keep-frames, a store that took over (half full already) once grew by a second batch before it
    prepared its successor (keep + 2 batches); it prepares it at once now."""
    from tests.conftest import require_tool

    part = tmp_path / "part.pcap"  # (the first 1,200 frames: enough stores, a short check)
    subprocess.run([require_tool("editcap"), "-F", "pcap", "-r", str(interleaved), str(part), "1-1200"], check=True)
    keep, batch = 100, 64
    copied = _copied(part)
    _, stores = _load(_live_source(part, batch), keep)
    assert max(st.count for st in stores) <= keep + batch
    assert len(stores) > 15
    _check_generations(copied, stores, keep, batch, ("live", "large batches"))
