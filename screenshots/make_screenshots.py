"""Render the README's screenshots (SVG) of the UI on the bundled demo capture.

    python screenshots/make_screenshots.py [--size 100x32] [--png]   (--png needs rsvg-convert)

Each screenshot drives the real app with Pilot: the same keys a user presses.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
# the UI remembers pane sizes in $XDG_CONFIG_HOME/mqttsniff (sniffer.ui.layout): the screenshots show the defaults,
# not the sizes of whoever runs this
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="mqttsniff-screenshots-")

from sniffer.cli import demo_path  # noqa: E402
from sniffer.pipeline import Dissector  # noqa: E402
from sniffer.ui.app import SnifferApp  # noqa: E402
from sniffer.ui.sources import FileSource  # noqa: E402


async def _ready(app, pilot) -> None:
    app.filter_bar.cursor_blink = False
    for _ in range(200):
        await pilot.pause(0.02)
        if app.status_loaded() and app.plist.count == app.store.count:
            break
    await pilot.pause(0.1)


async def _to_publish(app, pilot) -> None:
    """Select the first PUBLISH of Alink JSON with the filter bar and the keys."""
    await pilot.press("slash", *'mqtt.msgtype == 3 && mqtt.topic contains "property/post"', "enter")
    await _ready(app, pilot)
    await pilot.press("g", "slash", "escape")  # clear the filter; the selection stays on that frame
    await _ready(app, pilot)


async def main_screen(app, pilot) -> None:
    await pilot.press("j", "j", "j")  # the CONNECT: password masked


async def publish_bytes(app, pilot) -> None:
    await _to_publish(app, pilot)
    await pilot.press("tab")
    for _ in range(30):  # down the MQTT tree to the Message field: its bytes light up in the hex pane
        node = app.details.cursor_node.data if app.details.cursor_node else None
        if node is not None and node.fdef is not None and node.fdef.abbrev == "mqtt.msg":
            break
        await pilot.press("down")


async def publish_json(app, pilot) -> None:
    await _to_publish(app, pilot)
    await pilot.press("p")


async def filter_error(app, pilot) -> None:
    await pilot.press("slash", *'mqtt.topik contains "temp" && mqtt.qos == 1')


async def help_screen(app, pilot) -> None:
    await pilot.press("question_mark")


async def flow_graph(app, pilot) -> None:
    await _to_publish(app, pilot)
    await pilot.press("F")  # the device's connection, on its PUBLISH


async def graphs(app, pilot) -> None:
    await pilot.press("i")
    for _ in range(200):  # the counts come from a worker thread
        await pilot.pause(0.02)
        if getattr(app.screen, "fed", 0) == app.store.count:
            break


async def _view(app, pilot, key: str) -> None:
    """Open a session view and wait until it shows everything (the Expert view reads back the store)."""
    await pilot.press(key)
    model = app.sessions
    for _ in range(200):
        await pilot.pause(0.02)
        if model.expert_progress() is None and getattr(app.screen, "seen", -1) == model.version:
            break


async def clients_view(app, pilot) -> None:
    await _view(app, pilot, "c")
    await pilot.press("down")  # the MQTT 5 gateway, its whole client id under the table


async def topics_view(app, pilot) -> None:
    await _view(app, pilot, "o")
    view = app.screen
    leaf = view.reveal("lab/gw-02/telemetry")  # open the way down to a published topic
    await pilot.pause(0.1)
    view.query_one("#topics").move_cursor(leaf)


async def expert_view(app, pilot) -> None:
    await _view(app, pilot, "e")
    await pilot.press("down", "down", "enter", "down")  # the refused subscription's frame


SHOTS = {
    "main": main_screen,
    "publish-bytes": publish_bytes,
    "publish-json": publish_json,
    "filter-error": filter_error,
    "help": help_screen,
    "flow": flow_graph,
    "graphs": graphs,
    "clients": clients_view,
    "topics": topics_view,
    "expert": expert_view,
}


async def shoot(name: str, size: tuple[int, int], out: Path, theme: str | None = None, file: str = "") -> Path:
    app = SnifferApp(FileSource(demo_path(), name="demo.pcap"), Dissector(), theme=theme)
    async with app.run_test(size=size) as pilot:
        await _ready(app, pilot)
        await SHOTS[name](app, pilot)
        await pilot.pause(0.3)
        path = out / (file or f"{name}.svg")
        app.save_screenshot(filename=path.name, path=str(out))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="100x32")
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--png", action="store_true", help="also convert to PNG with rsvg-convert")
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    made = [asyncio.run(shoot(name, (w, h), out)) for name in SHOTS]
    made.append(asyncio.run(shoot("main", (80, 24), out, theme="textual-light", file="main-light-80x24.svg")))
    for p in made:
        print(p)
        if args.png and shutil.which("rsvg-convert"):
            subprocess.run(["rsvg-convert", "-w", "1400", str(p), "-o", str(p.with_suffix(".png"))], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
