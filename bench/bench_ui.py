"""UI benchmark on a large capture (not a timed test): first screen, full load, filter, jump, RAM.

    python bench/bench_ui.py [CAPTURE] [--json]    (default: bench/out/gen-1000000.pcap, made by gen_capture.py)

Runs the real app headless (Textual's run_test) on a FileSource and prints:
time to the first screen of rows, time until the whole file is loaded (dissected + stored),
time to apply a display filter over every stored frame (a Wireshark expression, and the
column-only `tcp.stream == N` of "follow"), time to jump to the end and render that screen,
time to select a frame (re-read + tree), and RAM: process RSS growth and the store's own bytes per packet.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sniffer.pipeline import Dissector  # noqa: E402
from sniffer.ui.app import SnifferApp  # noqa: E402
from sniffer.ui.sources import FileSource  # noqa: E402


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return 0


def rss() -> int:
    return _status("VmRSS:")


async def wait(pilot, cond, timeout: float = 600.0, step: float = 0.01) -> float:
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError
        await pilot.pause(step)
    return time.perf_counter() - t0


RESULT: dict = {}  # the figures, for `--json` (bench/run_all.py)


def render_screen(plist) -> None:
    plist._cache.clear()
    for y in range(plist.scrollable_content_region.height):
        plist.render_line(y)


async def bench(path: str) -> None:
    base = rss()
    t_start = time.perf_counter()
    app = SnifferApp(FileSource(path), Dissector())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait(pilot, lambda: app.plist.count >= 30 and app.selected_row == 0)
        first = time.perf_counter() - t_start
        print(f"first screen: {first * 1000:.0f} ms after start ({app.plist.count:,} rows at that moment)")
        RESULT["first_screen_s"] = first
        await wait(pilot, lambda: app.loader.done.is_set(), step=0.2)
        loaded = time.perf_counter() - t_start
        n = app.store.count
        await pilot.pause(0.3)
        grown = rss() - base
        print(f"full load: {loaded:.1f} s for {n:,} frames ({n / loaded:,.0f} frames/s)")
        RESULT.update(load_s=loaded, frames=n, store_bytes_per_pkt=app.store.ram_bytes() / n)
        RESULT.update(rss_growth_per_pkt=grown / n, spill_bytes_per_pkt=app.store.spill_bytes() / n)
        RESULT.update(capture_bytes_per_pkt=os.path.getsize(path) / n)
        print(
            f"RAM: store rows {app.store.ram_bytes() / n:.0f} bytes/packet; process RSS growth "
            f"{grown / n:.0f} bytes/packet ({grown / 2**20:.0f} MiB); "
            f"spill file {app.store.spill_bytes() / n:.0f} B/pkt"
        )
        # jump to the end: the action plus formatting the new screen of rows
        t0 = time.perf_counter()
        app.plist.action_last()
        render_screen(app.plist)
        print(f"jump to end (G) + render {app.plist.scrollable_content_region.height} rows: "
              f"{(time.perf_counter() - t0) * 1000:.1f} ms")  # fmt: skip
        RESULT["jump_end_ms"] = (time.perf_counter() - t0) * 1000
        for frac in (0.5, 0.1):
            t0 = time.perf_counter()
            app.plist._set_cursor(int(n * frac))
            render_screen(app.plist)
            dt = (time.perf_counter() - t0) * 1000
            print(f"jump to row {int(n * frac):,} + render: {dt:.1f} ms")
            RESULT[f"jump_{int(frac * 100)}pct_ms"] = dt
        t0 = time.perf_counter()
        frame = app.store.frame(n - 1)
        frame.tree()
        RESULT["select_ms"] = (time.perf_counter() - t0) * 1000
        print(f"select a frame (re-read from the spill, rebuild, tree): {RESULT['select_ms']:.1f} ms")
        await pilot.pause(0.2)
        for expr in ("tcp.stream == 7", "mqtt.msgtype == 3 && mqtt.qos == 1"):
            t0 = time.perf_counter()
            assert app.apply_filter(expr)
            await wait(pilot, lambda: not app.loader.scanning and app.loader.view.scanned >= n, step=0.05)
            dt = time.perf_counter() - t0
            print(f"filter {expr!r}: {dt:.2f} s over {n:,} frames -> {app.loader.snapshot()[1]:,} shown")
            RESULT.setdefault("filters", {})[expr] = [dt, app.loader.snapshot()[1]]
        app.apply_filter("")
    print(f"peak RSS of the whole run: {peak_rss() / 2**20:.0f} MiB")
    RESULT["peak_rss_mib"] = peak_rss() / 2**20


def peak_rss() -> int:
    return _status("VmHWM:")


def main() -> int:
    argv = [a for a in sys.argv[1:] if a != "--json"]
    path = argv[0] if argv else str(ROOT / "bench" / "out" / "gen-1000000.pcap")
    if not Path(path).exists():
        print(f"generating {path} ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "gen_capture.py"), path, "--frames", "1000000"], check=True
        )
    print(f"capture: {path} ({Path(path).stat().st_size / 2**20:.0f} MiB)")
    asyncio.run(bench(path))
    if "--json" in sys.argv[1:]:
        print("RESULT " + json.dumps(RESULT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
