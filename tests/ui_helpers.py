"""Helpers for the UI tests: frames from real captures through the real dissector, a fed app."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sniffer.net.pcapfile import open_capture
from sniffer.pipeline import Dissector

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "sniffer" / "data" / "demo.pcap"
CORPUS = REPO / "tests" / "captures"


def records(path: Path | str = DEMO) -> list[tuple[float, bytes, int, int]]:
    return list(open_capture(str(path)))


def dissected(path: Path | str = DEMO) -> list:
    d = Dissector()
    return [d.frame(n, ts, lt, data, ol) for n, (ts, data, ol, lt) in enumerate(records(path), 1)]


def make_app(recs=None, live: bool = False, name: str = "demo.pcap", **kw):
    from sniffer.ui.app import SnifferApp
    from sniffer.ui.sources import MemorySource

    src = MemorySource(recs if recs is not None else records(), name=name, live=live,
                       capture_filter="tcp port 1883" if live else "")  # fmt: skip
    return SnifferApp(src, Dissector(), **kw)


async def settle(app, pilot, rows: int | None = None, timeout: float = 10.0) -> None:
    """Wait until the loader has caught up (and, if given, `rows` rows are displayed)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        await pilot.pause(0.02)
        view, shown, total = app.loader.snapshot()
        caught_up = view.scanned >= total and not app.loader.scanning
        done = app.loader.done.is_set() or app.source.live
        if caught_up and done and app.plist.count == shown and (rows is None or shown == rows):
            # and the screen says so: the status bar shows the final state (not "filtering 100%"),
            # the callbacks of the last update (tree cursor, scrolling) have run
            await wait_for(pilot, lambda: app.status_bar.content == app.status_text(), timeout, "the status bar")
            await pilot.pause()
            return
    raise AssertionError(f"UI did not settle: {app.loader.snapshot()[1:]} shown={app.plist.count} want={rows}")


async def wait_for(pilot, condition, timeout: float = 10.0, what: str = "") -> None:
    """Poll `condition()` between UI turns until it holds: tests wait for the state they check, not
    for a fixed time (a busy machine runs the loader and the UI more slowly)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)
    await pilot.wait_for_scheduled_animations()


async def palette_run(pilot, text: str) -> None:
    """Run the command palette's best match for `text`, as a user does (ctrl+p, type, Enter)."""
    from textual.command import CommandPalette

    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
    await pilot.press(*text)
    palette = app.screen
    matches = palette.query_one("CommandList")
    # the search runs in a worker: Enter before a match is highlighted does nothing (a loaded machine)
    await wait_for(pilot, lambda: matches.option_count > 0 and matches.highlighted is not None, what="palette matches")
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette), what="the palette to close")


def run(coro):
    return asyncio.run(coro)


class StoreSpy:
    """Stands in for app.store where a test counts reads: forwards everything to the store and records
    each call of the named methods (the compiled store's methods cannot be patched on it)."""

    def __init__(self, store, names, calls: list) -> None:
        self._store, self._names, self._calls = store, frozenset(names), calls

    def __getattr__(self, name: str):
        value = getattr(self._store, name)
        if name not in self._names:
            return value
        calls = self._calls

        def spy(*args):
            calls.append(name if name != "frame" else args[0])
            return value(*args)

        return spy
