"""Snapshot tests (pytest-textual-snapshot) of the main screens at 80x24, on the demo capture.

Update after an intended change with `pytest tests/test_ui_snapshots.py --snapshot-update` and look at
the report. The filter bar's cursor does not blink, so the snapshots are stable.
"""

from __future__ import annotations

import pytest

from tests.ui_helpers import make_app, settle, wait_for


async def _ready(pilot, rows: int | None = 53) -> None:
    app = pilot.app
    app.filter_bar.cursor_blink = False
    await settle(app, pilot, rows)


def test_main_screen(snap_compare):
    async def run_before(pilot):
        await _ready(pilot)
        await pilot.press("j", "j", "j")  # the CONNECT, password masked

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_publish_with_json_payload(snap_compare):
    async def run_before(pilot):
        await _ready(pilot)
        await pilot.press("slash", *"mqtt.msgid == 3", "enter")
        await _ready(pilot, 2)  # the PUBLISH (id=3) and its PUBACK
        await pilot.press("p")

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_filter_error(snap_compare):
    async def run_before(pilot):
        await _ready(pilot)
        await pilot.press("slash", *"mqtt.topik == 1")

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_help_light_theme(snap_compare, monkeypatch):
    # the views are mounted ahead a second after start (SnifferApp._warm_views); when that fell just as
    # the dialog opened, the footer kept "/ Filter" (a key that sleeps under a dialog): a picture that
    # depended on the machine's speed. Not this test's subject: no mounting ahead here.
    monkeypatch.setattr("sniffer.ui.app.WARM_VIEWS_AFTER", 3600.0)

    async def run_before(pilot):
        await _ready(pilot)
        await pilot.press("t", "question_mark")

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


# ---- the session views (c, o, e), each in the dark and the light theme ----------------------

THEMES = pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])


async def _view(pilot, key: str) -> None:
    from sniffer.ui.views_common import SessionView

    app = pilot.app
    await _ready(pilot)
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, SessionView) and app.screen.seen >= 0, what="the view")
    model = app.sessions  # the Expert view reads the stored frames' notes in a thread
    await wait_for(pilot, lambda: model.expert_progress() is None and app.screen.seen == model.version, what="news")
    await pilot.pause()


@THEMES
def test_clients_view(snap_compare, theme):
    async def run_before(pilot):
        await _view(pilot, "c")
        await pilot.press("down")  # the second connection, its line under the table

    assert snap_compare(make_app(theme=theme), terminal_size=(80, 24), run_before=run_before)


@THEMES
def test_topics_view(snap_compare, theme):
    async def run_before(pilot):
        await _view(pilot, "o")
        view = pilot.app.screen
        leaf = view.reveal("lab/gw-02/telemetry")
        await pilot.pause()
        view.query_one("#topics").move_cursor(leaf)  # its publishers and subscribers in the side pane
        await pilot.pause()

    assert snap_compare(make_app(theme=theme), terminal_size=(80, 24), run_before=run_before)


@THEMES
def test_expert_view(snap_compare, theme):
    async def run_before(pilot):
        await _view(pilot, "e")
        await pilot.press("down", "down", "enter", "down")  # the summary opened, its frame selected

    assert snap_compare(make_app(theme=theme), terminal_size=(80, 24), run_before=run_before)
