"""The CLI's UI path: decide whether to open the UI, build the packet source, run the app.

Imported by sniffer.cli only when the UI is wanted, so the headless path never imports Textual
(`wants_ui` itself lives in sniffer.cli's lazy import of this module and imports nothing heavy).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from sniffer.textesc import escape

if TYPE_CHECKING:
    from sniffer.capture.signals import StopSignals


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
        bool(getattr(args, "summary", False)),  # -P, as -V and -x: lines for a terminal or a pipe
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


def run(args: argparse.Namespace, dissector, stop: StopSignals | None = None) -> int:
    """Open the UI on `args`' source; returns the exit code.

    A live capture is set up exactly as the headless one (sniffer.capture.setup: options checked,
    socket opened, the UI's modules preloaded, root dropped) and stopped by the same signals: SIGTERM,
    SIGHUP or SIGINT exit the app through Textual, so the terminal is restored and the counts printed.
    """
    from sniffer.ui.sources import FileSource, LiveSource

    live = None
    multi = None
    from sniffer.capture.multi import wants_multi

    if args.interface and wants_multi(args):
        # several -i or ssh:// remotes: connected here, before the UI opens (an ssh prompt the user
        # allowed with --ssh-option BatchMode=no reaches the plain terminal); link events go to the
        # status bar while the UI runs and to stderr after it
        from sniffer.capture.live import LiveCaptureError
        from sniffer.capture.multi import open_multi
        from sniffer.capture.remote import RemoteError

        events: list[str] = []
        try:
            multi = open_multi(args, ui=True, stop=stop, warn=events.append)
        except (LiveCaptureError, RemoteError) as e:
            sys.stderr.write(f"mqttsniff: {escape(str(e)).removeprefix('mqttsniff: ')}\n")
            return e.exit_code
        multi.events = events
        source = multi
    elif args.interface:
        from sniffer.capture.live import LiveCaptureError
        from sniffer.capture.setup import open_live

        try:
            live = open_live(args, ui=True, stop=stop)
        except LiveCaptureError as e:
            sys.stderr.write(f"{escape(str(e))}\n")
            return e.exit_code
        source = LiveSource(live)
    elif args.demo:
        from sniffer.cli import demo_path

        source = FileSource(demo_path(), args.count, name="demo.pcap (sample)")
    else:
        source = FileSource(args.read, args.count)
        from sniffer.tls.keylog import use_secrets_blocks

        use_secrets_blocks(dissector, source.reader)  # a pcapng file's TLS keys (Decryption Secrets Blocks)

    from sniffer.ui.app import SnifferApp

    theme = "textual-light" if os.environ.get("MQTTSNIFF_THEME", "").lower() == "light" else None
    from sniffer.cli import LIVE_KEEP_FRAMES

    keep = getattr(args, "keep_frames", None)
    if keep is None:  # a file is finite; a live capture may run for days
        keep = LIVE_KEEP_FRAMES if getattr(source, "live", False) else 0
    app = SnifferApp(source, dissector, theme=theme, display_filter=_display_filter(args),
                     show_secrets=bool(getattr(args, "show_secrets", False)), keep_frames=keep)  # fmt: skip
    try:
        _run_app(app, stop)
    finally:
        source.stop()
        app.loader.join(2.0)
        app.store.close()
        app.close_retired(everything=True)
    if multi is not None:
        for line in [*multi.events, *multi.summary().splitlines()]:
            sys.stderr.write(f"{escape(line)}\n")
        if multi.errors():
            for error in multi.errors():
                sys.stderr.write(f"mqttsniff: {escape(error)}\n")
            return 1
    if live is not None:
        sys.stderr.write(live.summary() + "\n")
        if getattr(live, "error", None):
            sys.stderr.write(f"mqttsniff: {escape(str(live.error))}\n")
            return 1
    if dissector.cap_message():  # --max-buffered was reached (the status bar said so too)
        sys.stderr.write(f"mqttsniff: {dissector.cap_message()}\n")
    if app.loader.error:
        sys.stderr.write(f"mqttsniff: {escape(app.loader.error)}\n")
        return 1
    return 1 if app.return_code else 0


def _run_app(app, stop: StopSignals | None) -> None:
    """Run the app; under a live capture the stop signals become the app's exit (in its event loop)."""
    if stop is None:
        app.run()
        return
    import asyncio
    import signal

    from sniffer.capture.signals import STOP_SIGNALS

    loop = asyncio.new_event_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, app.exit)
    try:
        if not stop.signum:  # a signal during set-up: no UI at all, just the counts
            app.run(loop=loop)
    finally:
        # Back to the flag handler before the loop goes (closing it would reset them to SIG_DFL),
        # so a signal during the teardown below cannot kill the process before the counts.
        stop.reinstall()
        signal.set_wakeup_fd(-1)
