"""The CLI's UI path: decide whether to open the UI, build the packet source, run the app.

Imported by sniffer.cli only when the UI is wanted, so the headless path never imports Textual
(`wants_ui` itself lives in sniffer.cli's lazy import of this module and imports nothing heavy).
"""

from __future__ import annotations

import argparse
import os
import sys

from sniffer.textesc import escape

# A live capture under the UI: the UI shows new packets 10 times a second, so ring blocks may wait
# 50 ms to fill, and a bigger ring rides out the pauses of a busy UI thread (a 30k packets/s flood
# lost packets with 8 MB / 10 ms). Headless: 8 MB / 10 ms; -B overrides the size.
UI_BUFFER_MB = 32
UI_LATENCY_MS = 50


def wants_ui(args: argparse.Namespace) -> bool:
    """The UI opens on a terminal unless an output option asks for headless output (like tshark's)."""
    if getattr(args, "no_ui", False) or not sys.stdout.isatty() or not sys.stdin.isatty():
        return False
    if args.read == "-":  # the capture arrives on stdin, which the UI needs for keys
        return False
    headless = (
        args.fmt != "text",
        bool(args.fields),
        args.verbose,
        args.hex,
        bool(getattr(args, "write", None)),  # -w alone writes a file and prints counts, like tshark -w
        bool(getattr(args, "glossary", None)),
        bool(getattr(args, "list_interfaces", False)),
    )
    return not any(headless)


def _display_filter(args: argparse.Namespace) -> str:
    for name in ("display_filter", "dfilter", "read_filter", "Y"):
        value = getattr(args, name, None)
        if isinstance(value, str):
            return value
    return ""


def _live_source(args: argparse.Namespace):
    from sniffer.capture.live import DEFAULT_FILTER, DEFAULT_SNAPLEN, LiveCapture
    from sniffer.capture.privileges import drop_privileges
    from sniffer.ui.sources import LiveSource

    cap = LiveCapture(
        args.interface,
        getattr(args, "capture_filter", None) or DEFAULT_FILTER,
        snaplen=getattr(args, "snaplen", None) or DEFAULT_SNAPLEN,
        promisc=not getattr(args, "no_promisc", False),
        buffer_mb=getattr(args, "buffer_mb", None) or UI_BUFFER_MB,
        count=args.count or 0,
        latency_ms=UI_LATENCY_MS,
    )
    cap.open()  # LiveCaptureError: the CLI prints its one line
    drop_privileges(getattr(args, "user", None))  # the UI never runs as root
    return LiveSource(cap)


def run(args: argparse.Namespace, dissector) -> int:
    """Open the UI on `args`' source; returns the exit code."""
    from sniffer.ui.sources import FileSource

    live = None
    if args.interface:
        from sniffer.capture.live import LiveCaptureError

        try:
            source = _live_source(args)
        except LiveCaptureError as e:
            sys.stderr.write(f"mqttsniff: {escape(str(e))}\n")
            return e.exit_code
        live = source.capture
    elif args.demo:
        from sniffer.cli import demo_path

        source = FileSource(demo_path(), args.count, name="demo.pcap (sample)")
    else:
        source = FileSource(args.read, args.count)

    from sniffer.ui.app import SnifferApp

    theme = "textual-light" if os.environ.get("MQTTSNIFF_THEME", "").lower() == "light" else None
    app = SnifferApp(source, dissector, theme=theme, display_filter=_display_filter(args),
                     show_secrets=bool(getattr(args, "show_secrets", False)))  # fmt: skip
    try:
        app.run()
    finally:
        source.stop()
        app.loader.join(2.0)
        app.store.close()
    if live is not None:
        sys.stderr.write(live.summary() + "\n")
        if getattr(live, "error", None):
            sys.stderr.write(f"mqttsniff: {escape(str(live.error))}\n")
            return 1
    if app.loader.error:
        sys.stderr.write(f"mqttsniff: {escape(app.loader.error)}\n")
        return 1
    return 0
