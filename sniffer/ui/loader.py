"""The loader: a thread that drives a packet source through the dissector into the store
(sniffer.driver, the loop the headless printers use too; the loader is its sink), and keeps the
list of displayed rows for the current display filter.

Rules: the loader never touches a widget; it calls `notify()` (which posts one coalescing message
to the app) at most ~10 times a second. A new display filter starts a scan thread over the rows
already stored while the loader keeps ingesting; one lock guards the view (matcher, displayed
rows, how far the scan got), so the view is always "matches among rows [0, scanned)".
"""

from __future__ import annotations

import gc
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from sniffer.driver import drive

UPDATE_INTERVAL = 0.1  # seconds between notifications: the UI takes new packets ~10x a second
SCAN_CHUNK = 5000  # rows per step of a rescan (a newer filter takes over between steps)


def _collector_for_loading() -> None:
    """Tune the cyclic garbage collector for the app's life from the first load on. Each frame makes a
    few dozen short-lived objects, freed by reference counting (frames hold no cycles); at the default
    threshold (a pass every 700 allocations) the collector's passes walked, again and again, everything
    the app holds (Textual's widgets, the session model): the 200,000-frame bench file loaded in
    6.2-7.0 s instead of 7.1-9.3 s without them. Start-up's objects are frozen out of its passes, and a
    pass comes every 50,000 allocations, a full one every 10 million (Textual's cyclic garbage is still freed).
    Once per process: a second freeze would also keep forever the garbage made since the first (tests run
    many apps in one process)."""
    global _COLLECTOR_TUNED
    if not _COLLECTOR_TUNED:
        _COLLECTOR_TUNED = True
        gc.freeze()
        gc.set_threshold(50_000, 20, 10)


_COLLECTOR_TUNED = False


def replay_dissector(d: Any) -> Callable[[], Any]:
    """A factory of dissectors with `d`'s settings and no session layer (the store keeps what that
    layer said), to dissect stored frames again (sniffer.replay)."""

    def make() -> Any:
        return type(d)(
            d.ports, d.max_pdu, d.detect, d.max_buffered, sessions=False, tls_ports=d.tls_ports, tls_keylog=d.tls_keylog
        )

    return make


class View:
    """One generation of the displayed rows. rows is None when no filter is set (all rows shown)."""

    __slots__ = ("generation", "matcher", "rows", "scanned", "store", "text")

    def __init__(self, generation: int, matcher: Any, text: str, store: Any = None) -> None:
        self.generation = generation
        self.store = store  # the store whose rows these are (a bounded UI changes stores: --keep-frames)
        self.matcher = matcher
        self.text = text
        self.rows: array | None = None if matcher is None else array("I")
        self.scanned = 0


class Loader:
    def __init__(self, source: Any, store: Any, dissector: Any, notify: Callable[[], None] | None = None) -> None:
        self.source = source
        self.store = store
        self.dissector = dissector
        self.notify = notify or (lambda: None)
        self.lock = threading.Lock()
        self.view = View(0, None, "", store)
        # --keep-frames: the store is followed by a new one (store.successor()) once it holds this many
        # frames; 0: one store for the whole run. `left` counts the frames that left the list.
        self.keep = 0
        self.left = 0
        self._last_of: dict[int, Any] = {}  # per TCP stream of the store: its last Frame (carried over)
        self._successor: Any = None  # the next store, once this one is full
        self._scanning = False
        self._quitting = False  # stop() was called: the app is going
        self._thread: threading.Thread | None = None
        self._last_notify = 0.0
        self.done = threading.Event()  # the source is exhausted
        self.error: str | None = None
        self.rate = 0.0  # frames/s over the last seconds
        self._rate_mark = (time.monotonic(), 0)
        self.started = time.monotonic()
        self.loaded_at: float | None = None
        self._frames: list[Any] = []  # the Frames of the batch being dissected
        self.sessions: Any = None  # the session views' model (sniffer.ui.session_model), fed every stored Frame
        self.row = self._frames.append  # the driver's sink: each Frame as it is made

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        # a merged capture shows every frame with nine decimals, as headless (sniffer.driver)
        self.store.forced_digits = getattr(self.source, "stamp_digits", -1)
        if self.store.count == 0 and self.store.replay is None:
            if getattr(self.source, "offsets", False):
                # a plain capture file: the store keeps offsets into it, not copies (sniffer.replay)
                self.store.attach_file(self.source.path, replay_dissector(self.dissector))
            elif getattr(self.source, "live", False):
                # a live capture: the frames' bytes go to the spill, their trees are made again when read
                self.store.attach_file(None, replay_dissector(self.dissector))
        self.source.start()
        self._thread = threading.Thread(target=self._run, name="mqttsniff-loader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The app is quitting: stop the source, and stop storing after the current batch (a live
        capture's backlog would otherwise be dissected into a store about to be closed)."""
        self._quitting = True
        self.source.stop()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        _collector_for_loading()
        try:
            drive(self.source, self.dissector, self, first=self.store.count + 1, stop=lambda: self._quitting)
        except Exception as e:  # shown in the status bar; what was loaded stays usable
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.store.flush()
            self.loaded_at = time.monotonic()
            self.done.set()
            self.notify()

    def batch(self, first: int, records: Sequence[Any], count: int) -> None:
        """The driver's sink, after each batch: store its Frames (kept by row()), match them against
        the filter, tell the UI."""
        frames = self._frames
        first_row = self.store.count
        last: dict[int, Any] = {}  # the batch's last Frame of each TCP stream
        for fr in frames:
            if fr.stream >= 0:
                last[fr.stream] = fr
        self._add(self.store, records, frames, last)
        if self._successor is not None:  # (--keep-frames: the next store takes the newest frames too)
            self._add(self._successor, records, frames, last)
        if self.keep:
            self._last_of.update(last)
        if self.sessions is not None:
            self.sessions.feed(frames)
        self._match_new(first_row, frames)
        frames.clear()
        if self.keep:
            # (in this order: the store that takes over is half full already and prepares its own
            # successor at once, so no store holds more than keep + one batch; the successor has this
            # batch's frames before it takes over, so the list never starts empty)
            if self._successor is not None and self._successor.count and self.store.count >= self.keep:
                self._next_store()
            if self._successor is None and self.store.count >= self.keep - self.keep // 2:
                self._successor = self._prepare_successor()
        self._tick()

    def _add(self, store: Any, records: Sequence[Any], frames: list, last: dict[int, Any]) -> None:
        """Store the batch's Frames in `store` (readable together, at the end), then the checkpoints due."""
        if self.dissector.dropped_pdus and store.file_rows_ok:
            # the cap on held bytes spans streams: a stream dissected again alone would not meet it
            # the same way, so from this batch on rows keep their context
            store.file_rows_ok = False
        store.put_batch(frames, records)
        store.publish()
        self._checkpoints(store, last)

    def _prepare_successor(self) -> Any:
        """The store is half full (--keep-frames): its successor, which takes every frame from now on
        beside it and replaces it when it is full, so the list never starts empty: it keeps the newest
        keep/2 to keep frames. What the streams still open need to be dissected again goes along, taken
        now: each one's state after its last frame, at position 0."""
        from sniffer.replay import snapshot

        old = self.store
        new = old.successor()
        if old.replay is not None:
            new.attach_file(old.replay.path or None, replay_dissector(self.dissector))
            if old.file_rows_ok:
                for s, fr in list(self._last_of.items()):
                    state = snapshot(self.dissector, fr)
                    new.add_checkpoint(s, state)
                    if state is None:  # (closed and forgotten: nothing more to carry)
                        del self._last_of[s]
        return new

    def _next_store(self) -> None:
        """Go on in the successor: the UI adopts it with the view (View.store) and drops the old store
        once nothing reads it. The display filter goes on too: the rows the new store already holds
        are scanned in a thread, as for a new filter (a scan of the old store stops: its view is gone)."""
        new = self._successor
        self._successor = None
        self._forget_backfill(new.number_base)
        with self.lock:
            view = self.view
            moved = View(view.generation + 1, view.matcher, view.text, new)
            self.view = moved
            self.store = new
            self.left = new.number_base
            if moved.matcher is None:
                moved.scanned = new.count
                self._scanning = False
            else:
                self._scanning = True
                threading.Thread(target=self._scan, args=(moved,), name="mqttsniff-filter", daemon=True).start()

    def _checkpoints(self, store: Any, last: dict[int, Any]) -> None:
        """Save the state of each stream of the batch that is due a checkpoint (its frames since the last
        are many): a frame is then rebuilt from there, not from the stream's start (sniffer.replay)."""
        if store.replay is None or not store.file_rows_ok:
            return
        for s, fr in last.items():
            if store.checkpoint_due(s):
                from sniffer.replay import snapshot

                store.add_checkpoint(s, snapshot(self.dissector, fr))

    def _forget_backfill(self, upto: int) -> None:
        """Drop what the session layer added to frames numbered up to `upto` (they left the list; a late
        response to one of them is not recorded)."""
        backfill = self.store.backfill
        if backfill is not None:
            backfill.forget(upto)

    def update_rate(self) -> float:
        """The frames/s over the last second or so. Called by the loader per batch and by the UI's
        status tick: when traffic stops no batch comes, and the rate must still fall to 0."""
        now = time.monotonic()
        t0, n0 = self._rate_mark
        if now - t0 >= 1.0:
            count = self.left + self.store.count
            self.rate = (count - n0) / (now - t0)
            self._rate_mark = (now, count)
        return self.rate

    def _tick(self, force: bool = False) -> None:
        now = time.monotonic()
        self.update_rate()
        if force or now - self._last_notify >= UPDATE_INTERVAL:
            self._last_notify = now
            self.notify()

    def _match_new(self, first_row: int, frames: list) -> None:
        """Evaluate the current filter on freshly ingested rows, unless a scan will reach them."""
        with self.lock:
            view = self.view
            if view.matcher is None:
                view.scanned = self.store.count
                return
            if self._scanning:
                return
            matcher = view.matcher
            rows = view.rows
            end = first_row + len(frames)
            for i in range(view.scanned, end):
                fr = frames[i - first_row] if i >= first_row else None
                if matcher(self.store, i, fr):
                    rows.append(i)
            view.scanned = end

    # -- display filter ---------------------------------------------------------------------
    def set_filter(self, matcher: Any, text: str = "") -> View:
        """Switch to a new matcher (None = show all); rows already stored are scanned in a thread."""
        with self.lock:
            view = View(self.view.generation + 1, matcher, text, self.store)
            if matcher is None:
                view.scanned = self.store.count
            self.view = view
            if matcher is not None:
                self._scanning = True
                threading.Thread(target=self._scan, args=(view,), name="mqttsniff-filter", daemon=True).start()
        self.notify()
        return view

    def _scan(self, view: View) -> None:
        try:
            self._scan_rows(view)
        except Exception as e:  # shown in the status bar; the view keeps what was scanned
            if self.view is not view:
                return  # (a store left behind by --keep-frames may be closed under a late scan)
            self.error = f"filter: {type(e).__name__}: {e}"
            with self.lock:
                if self.view is view:
                    self._scanning = False
            self.notify()

    def _scan_rows(self, view: View) -> None:
        store = view.store or self.store
        matcher = view.matcher
        while True:
            with self.lock:
                if self.view is not view:
                    return  # a newer filter took over (it set _scanning itself)
                start = view.scanned
                end = min(store.count, start + SCAN_CHUNK)
                if start >= end:
                    self._scanning = False
                    break
            if hasattr(matcher, "scan"):
                hits = matcher.scan(store, start, end)
            elif getattr(matcher, "needs_frame", False):
                frames = store.frames(start, end)  # one read for the chunk, not one per frame
                hits = [i for i, fr in zip(range(start, end), frames, strict=True) if matcher(store, i, fr)]
            else:
                hits = [i for i in range(start, end) if matcher(store, i, None)]
            with self.lock:
                if self.view is not view:
                    return
                view.rows.extend(hits)
                view.scanned = end
            self._tick()
        self._tick(force=True)

    def follow(self, model: Any, stat: Any) -> tuple[Any, int]:
        """(the newest store, the number of the last frame the session model had counted) taken together,
        `stat` fed by the model from that frame on (a Graphs view of one topic or client: it reads the
        rows up to that frame from the store, so no frame is in neither and none in both)."""
        with self.lock:  # (_next_store changes the store under it; the model's lock is taken inside)
            return self.store, model.follow(stat)

    def snapshot(self) -> tuple[View, int, int]:
        """(view, displayed rows, stored rows) at this instant, consistent with each other."""
        with self.lock:
            view = self.view
            total = self.store.count
            shown = total if view.rows is None else len(view.rows)
            return view, shown, total

    def displayed(self) -> tuple[View, int, int]:
        """(view, displayed rows, stored rows evaluated by its filter) at this instant, consistent."""
        with self.lock:
            view = self.view
            if view.rows is None:
                return view, self.store.count, self.store.count
            return view, len(view.rows), view.scanned

    @property
    def scanning(self) -> bool:
        return self._scanning
