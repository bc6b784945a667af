"""Snapshot tests (pytest-textual-snapshot) of the main screens at 80x24, on the demo capture.

Update after an intended change with `pytest tests/test_ui_snapshots.py --snapshot-update` and look at
the report. The filter bar's cursor does not blink, so the snapshots are stable.
"""

from __future__ import annotations

from tests.ui_helpers import make_app, settle


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


def test_help_light_theme(snap_compare):
    async def run_before(pilot):
        await _ready(pilot)
        await pilot.press("t", "question_mark")

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
