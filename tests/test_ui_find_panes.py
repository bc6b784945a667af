"""Pilot tests of Find packet (Ctrl+F, n, N) and of the resizable, remembered pane sizes (+ / -).

Frames are the demo capture through the real dissector; what a search must find is worked out from
the dissector's Frames, the capture's bytes and the filter engine, never from the UI. The config
directory is a temporary one (XDG_CONFIG_HOME), so no test reads or writes the user's.
"""

from __future__ import annotations

import json
import os
import pwd

import pytest

from sniffer.filter import compile_filter
from sniffer.ui import layout
from sniffer.ui.find import FindScreen
from tests.ui_helpers import dissected, make_app, palette_run, records, run, settle, wait_for

FRAMES = dissected()
RECORDS = records()


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("SUDO_USER", raising=False)
    return tmp_path / "config"


def first_after(start: int, matches, step: int = 1) -> int:
    """The stored row of the first frame after row `start` for which matches(row) holds, wrapping."""
    n = len(FRAMES)
    for k in range(1, n + 1):
        row = (start + step * k) % n
        if matches(row):
            return row
    return -1


async def select(app, pilot, row: int) -> None:
    app.plist.focus()
    app.plist.select_row(row)
    await wait_for(pilot, lambda: app.selected_row == row, what=f"row {row} selected")


async def find(app, pilot, text: str, kind: str = "info") -> None:
    """Ctrl+F, type `text`, pick the kind, Enter; wait for the search's answer."""
    app.find_note = ""
    await pilot.press("ctrl+f")
    await wait_for(pilot, lambda: isinstance(app.screen, FindScreen), what="the find dialog")
    if kind != "info":
        await pilot.click(f"#find-{kind}")
        await wait_for(pilot, lambda: app.screen.chosen_kind() == kind, what=f"{kind} chosen")
    app.screen.query_one("#find-text").focus()
    await pilot.press(*text, "enter")
    await wait_for(pilot, lambda: app.find_note not in ("", "searching"), what="the search's answer")


async def again(app, pilot, key: str) -> None:
    app.find_note = ""
    await pilot.press(key)
    await wait_for(pilot, lambda: app.find_note not in ("", "searching"), what="the search's answer")


# -- find ------------------------------------------------------------------------------------
def test_find_by_info_string_is_case_insensitive_and_n_N_step_through_the_matches():
    needle = "publish message (ID"  # mixed case: Info says "Publish Message (id=3)"
    hits = [i for i, f in enumerate(FRAMES) if needle.lower() in f.info.lower()]
    assert len(hits) >= 3

    async def go():
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await select(app, pilot, 0)
            await find(app, pilot, needle)
            assert app.selected_row == hits[0], app.find_note
            assert app.find_note == f"Found frame {hits[0] + 1}"
            await again(app, pilot, "n")
            assert app.selected_row == hits[1]
            await again(app, pilot, "n")
            assert app.selected_row == hits[2]
            await again(app, pilot, "N")
            assert app.selected_row == hits[1]
            # Ctrl+F again: the dialog holds the last search, Enter finds the next match
            await pilot.press("ctrl+f")
            await wait_for(pilot, lambda: isinstance(app.screen, FindScreen), what="the find dialog")
            assert app.screen.query_one("#find-text").value == needle
            await pilot.press("enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, FindScreen), what="the dialog to close")
            await wait_for(pilot, lambda: app.selected_row == hits[2], what="the next match")

    run(go())


def test_find_by_bytes_in_the_frame():
    needle = b"lab/gw-02/telemetry"
    hexed = ":".join(f"{b:02x}" for b in needle)  # as Wireshark's "de:ad:be:ef"
    start = 3
    want = first_after(start, lambda r: needle in RECORDS[r][1])
    assert want > start and needle.decode() in FRAMES[want].info  # sanity: the topic is in that PUBLISH

    async def go():
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await select(app, pilot, start)
            await find(app, pilot, hexed, kind="bytes")
            assert app.selected_row == want, app.find_note
            # the same bytes without separators, upper case: the next frame holding them
            app.find_text = needle.hex().upper()
            await again(app, pilot, "n")
            assert app.selected_row == first_after(want, lambda r: needle in RECORDS[r][1])

    run(go())


def test_find_by_display_filter():
    text = "mqtt.msgtype == 12"  # PINGREQ
    compiled = compile_filter(text)
    want = first_after(0, lambda r: compiled.matches(FRAMES[r]))
    assert want > 0

    async def go():
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await select(app, pilot, 0)
            await find(app, pilot, text, kind="filter")
            assert app.selected_row == want, app.find_note
            assert FRAMES[app.selected_row].info == "Ping Request"

    run(go())


def test_find_wraps_around_both_ways_and_says_so():
    needle = "connect command"
    hits = [i for i, f in enumerate(FRAMES) if needle in f.info.lower()]
    assert len(hits) >= 2

    async def go():
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await select(app, pilot, hits[-1])
            await find(app, pilot, needle)
            assert app.selected_row == hits[0]
            assert "wrapped" in app.find_note, app.find_note
            await again(app, pilot, "N")  # back from the first: wraps past the beginning to the last
            assert app.selected_row == hits[-1]
            assert "wrapped past the beginning" in app.find_note
            await again(app, pilot, "N")
            assert app.selected_row == hits[-2] and "wrapped" not in app.find_note

    run(go())


def test_find_searches_only_the_displayed_frames():
    needle = "publish message"
    shown = "tcp.stream == 1"
    streams = [f.stream for f in FRAMES]
    want = first_after(0, lambda r: streams[r] == 1 and needle in FRAMES[r].info.lower())
    earlier = first_after(0, lambda r: needle in FRAMES[r].info.lower())
    assert earlier != want  # a match of the other connection comes first

    async def go():
        app = make_app(display_filter=shown)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await find(app, pilot, needle)
            assert app.selected_row == want, app.find_note

    run(go())


def test_nothing_found_says_so_and_keeps_the_selection():
    async def go():
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await select(app, pilot, 5)
            await find(app, pilot, "no such text anywhere")
            assert app.selected_row == 5
            assert app.find_note.startswith("No displayed packet matches"), app.find_note

    run(go())


def test_the_palette_finds_and_resizes():
    async def go():
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            app.plist.focus()
            await palette_run(pilot, "Grow pane")
            assert app.pane_sizes[0] == layout.DEFAULT[0] + layout.STEP
            await palette_run(pilot, "Find packet")
            await wait_for(pilot, lambda: isinstance(app.screen, FindScreen), what="the find dialog")

    run(go())


@pytest.mark.parametrize(
    ("kind", "text", "why"), [("bytes", "de:ad:b", "Not hex bytes"), ("filter", "mqtt.topic ==", "Bad display filter")]
)
def test_a_search_that_cannot_run_keeps_the_dialog_open_with_the_reason(kind, text, why):
    async def go():
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await select(app, pilot, 2)
            await pilot.press("ctrl+f")
            await wait_for(pilot, lambda: isinstance(app.screen, FindScreen), what="the find dialog")
            await pilot.click(f"#find-{kind}")
            app.screen.query_one("#find-text").focus()
            await pilot.press(*text, "enter")
            error = app.screen.query_one("#find-error")
            await wait_for(pilot, lambda: why in str(error.content), what="the reason")
            assert isinstance(app.screen, FindScreen) and app.selected_row == 2
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, FindScreen), what="the dialog to close")

    run(go())


# -- panes -----------------------------------------------------------------------------------
def heights(app) -> list[int]:
    return [w.region.height for w in app.pane_widgets()]


def test_resize_keys_change_the_panes_and_a_new_app_starts_with_them(config_home):
    async def resize() -> tuple[list[int], tuple[int, ...]]:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            before = heights(app)
            app.plist.focus()
            await pilot.press("plus", "plus", "plus")
            await pilot.pause()
            app.details.focus()
            await pilot.press("minus")
            await pilot.pause()
            after = heights(app)
            assert after[0] > before[0] and after[1] < before[1], (before, after)
            return after, app.pane_sizes

    after, sizes = asyncio_run(resize())
    assert sizes != layout.default_sizes()
    saved = json.loads((config_home / "mqttsniff" / "layout.json").read_text())
    assert tuple(saved["sizes"]) == sizes

    async def reopen() -> None:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            assert app.pane_sizes == sizes
            assert heights(app) == after

    run(reopen())


def test_dragging_the_borders_resizes_the_panes_and_is_remembered(config_home):
    async def drag(app, pilot, pane, rows: int) -> None:
        y = pane.region.y  # its top border: the hkey line above its title
        await pilot.mouse_down(offset=(10, y))
        await pilot.hover(offset=(10, y + rows))
        await pilot.mouse_up(offset=(10, y + rows))
        await wait_for(pilot, lambda: abs(pane.region.y - (y + rows)) <= 1, what=f"the border {rows:+} rows")

    async def go() -> tuple[int, ...]:
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            before = heights(app)
            await drag(app, pilot, app.details, -6)  # the list/details border up
            await drag(app, pilot, app.bottom, 4)  # the details/bytes border down
            after = heights(app)
            assert abs(after[0] - (before[0] - 6)) <= 1 and abs(after[2] - (before[2] - 4)) <= 1, (before, after)
            assert sum(after) == sum(before)
            return app.pane_sizes

    sizes = asyncio_run(go())
    assert tuple(json.loads((config_home / "mqttsniff" / "layout.json").read_text())["sizes"]) == sizes


def test_a_pane_does_not_shrink_away():
    async def go():
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            app.details.focus()
            await pilot.press(*["minus"] * (layout.TOTAL // layout.STEP + 2))
            await pilot.pause()
            assert app.pane_sizes[1] == layout.MIN and sum(app.pane_sizes) == layout.TOTAL
            assert app.details.region.height >= 1

    run(go())


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"sizes": [1, 2]}',
        b'{"sizes": ["a", "b", "c"]}',
        b'{"sizes": [0, 50, 50]}',
        b'{"sizes": [40, 30, 29]}',
        b"[]",
        b"\xff\xfe",
    ],
)
def test_a_broken_config_file_is_ignored(config_home, content):
    path = config_home / "mqttsniff" / "layout.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)

    async def go():
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            assert app.pane_sizes == layout.default_sizes()
            app.plist.focus()
            await pilot.press("plus")  # and the next save replaces it
            await wait_for(pilot, lambda: app.pane_sizes != layout.default_sizes(), what="the resize")
        assert tuple(json.loads(path.read_text())["sizes"]) == app.pane_sizes

    run(go())


def test_an_unreadable_config_and_an_unwritable_dir_are_ignored(config_home):
    (config_home / "mqttsniff" / "layout.json").mkdir(parents=True)  # a directory where the file goes

    async def go():
        app = make_app()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            assert app.pane_sizes == layout.default_sizes()
            app.plist.focus()
            await pilot.press("plus")
            await wait_for(pilot, lambda: app.pane_sizes != layout.default_sizes(), what="the resize")

    run(go())
    assert not (config_home / "mqttsniff" / "layout.json.tmp").exists()


def test_under_sudo_the_file_goes_to_the_invoking_user_and_is_theirs(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.fail("needs root (as the CI runs it)")
    home = tmp_path / "home"
    home.mkdir()
    user = pwd.struct_passwd(("someone", "x", 54321, 54322, "", str(home), "/bin/sh"))
    monkeypatch.setenv("SUDO_USER", "someone")
    monkeypatch.delenv("XDG_CONFIG_HOME")  # sudo resets the environment
    monkeypatch.setattr(layout.pwd, "getpwnam", lambda name: user if name == "someone" else pwd.getpwnam(name))
    assert layout.config_dir() == str(home / ".config" / "mqttsniff")
    assert layout.save((50, 25, 25))
    for p in (home / ".config", home / ".config" / "mqttsniff", home / ".config" / "mqttsniff" / "layout.json"):
        st = p.stat()
        assert (st.st_uid, st.st_gid) == (54321, 54322), p
    assert layout.load() == (50, 25, 25)
    # a user whose home does not exist (nobody's /nonexistent): nothing is created as root
    gone = pwd.struct_passwd(("someone", "x", 54321, 54322, "", str(tmp_path / "nonexistent"), "/bin/sh"))
    monkeypatch.setattr(layout.pwd, "getpwnam", lambda name: gone)
    assert not layout.save((50, 25, 25))
    assert not (tmp_path / "nonexistent").exists()


def asyncio_run(coro):
    import asyncio

    return asyncio.run(coro)
