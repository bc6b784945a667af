"""The command line's live path: `-i IFACE` with tcpdump/tshark's capture options, `-D`.

Frames go capture thread -> bounded queue -> this (main) thread -> sniffer.driver, the same loop,
Dissector and Printer as `-r`; output is flushed once per batch (batches leave the kernel at least every 10 ms), so
`-T fields` streams as packets arrive without a write(2) per line at high rates.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import TYPE_CHECKING

from sniffer.capture.live import DEFAULT_FILTER, DEFAULT_SNAPLEN

if TYPE_CHECKING:
    from sniffer.capture.signals import StopSignals

BROKEN_PIPE = "mqttsniff: output closed (broken pipe)"

LINKTYPE_NAMES = {1: "EN10MB (Ethernet)", 101: "RAW (Raw IP)", 113: "LINUX_SLL (Linux cooked v1)"}
# each live-only option's dest and the flag a user typed: the error names the flag, not the dest
LIVE_ONLY = {
    "capture_filter": "-f",
    "write": "-w",
    "autostop": "-a",
    "user": "-Z",
    "buffer_mb": "-B",
    "snaplen": "-s",
    "no_promisc": "-p",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("live capture (with -i)")
    g.add_argument(
        "-f", dest="capture_filter", metavar="EXPR", help=f"capture filter, tcpdump syntax ({DEFAULT_FILTER!r})"
    )
    g.add_argument("-s", dest="snaplen", type=int, metavar="SNAPLEN", help=f"bytes kept per frame ({DEFAULT_SNAPLEN})")
    g.add_argument("-p", dest="no_promisc", action="store_true", help="don't put the interface in promiscuous mode")
    g.add_argument(
        "-B",
        dest="buffer_mb",
        type=float,
        metavar="MB",
        help="kernel capture buffer in MB (8 headless, 32 under the UI)",
    )
    g.add_argument("-w", dest="write", metavar="FILE", help="also write the captured frames to a pcapng file")
    g.add_argument("-a", dest="autostop", metavar="duration:SECONDS", help="stop after this many seconds")
    g.add_argument("-D", dest="list_interfaces", action="store_true", help="list the interfaces and exit")
    g.add_argument("-Z", dest="user", metavar="USER", help="after opening the capture, run as USER ('root' keeps root)")


def check_args(args: argparse.Namespace) -> None:
    """Reject live-only options without -i (a usage error, like tshark's); check them with -i."""
    if not getattr(args, "interface", None):
        used = [flag for name, flag in LIVE_ONLY.items() if getattr(args, name, None) not in (None, False)]
        if used:
            from sniffer.cli import UsageError

            raise UsageError(f"{', '.join(used)}: only with -i IFACE (live capture)")
        return
    from sniffer.capture.setup import check_options

    check_options(args)  # for the UI too: a bad -a/-s/-B is a usage error before anything opens


def list_interfaces() -> int:
    from sniffer.capture.interfaces import format_list

    sys.stdout.write(format_list() + "\n")
    return 0


def _warn(message: str) -> None:
    if not message.startswith("mqttsniff:"):
        message = f"mqttsniff: {message}"
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def run(args: argparse.Namespace, dissector, printer, stop: StopSignals) -> int:
    """Capture on ``args.interface`` until -c/-a/a stop signal/a fault; returns the exit code.

    ``stop`` was installed by the CLI before the heavy imports: signals only ask the capture thread
    to stop, and this loop then drains what was captured, so nothing raises out of the middle of it.
    """
    from sniffer.capture.live import LiveCaptureError
    from sniffer.capture.setup import open_live
    from sniffer.driver import PrinterSink, drive
    from sniffer.source import LiveSource

    try:
        cap = open_live(args, ui=False, stop=stop)
        cap.start()
    except LiveCaptureError as exc:
        _warn(str(exc))
        return exc.exit_code
    _warn(
        f"capturing on {args.interface} ({cap.mode}), link-type {LINKTYPE_NAMES.get(cap.linktype, cap.linktype)},"
        f" snapshot length {cap.snaplen} bytes,"
        f" filter {cap.bpf_expr!r}"
    )
    printer.line_buffered = False  # flushed per batch below
    try:
        # a second Ctrl-C ends the run without waiting for the backlog to be printed
        drive(LiveSource(cap, poll=0.5), dissector, PrinterSink(printer, flush=True), stop=lambda: stop.count > 1)
        printer.close()
    except BrokenPipeError:
        # The reader (`head`) went away: stop, keep the -w file whole, say so (the README's promise).
        cap.request_stop()
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        cap.stop()
        sys.stderr.write(cap.summary() + "\n")
        _warn(BROKEN_PIPE)
        return 1
    finally:
        cap.stop()
    sys.stderr.write(cap.summary() + "\n")
    if dissector.cap_message():
        _warn(dissector.cap_message())
    if cap.error:
        _warn(cap.error)
        return 1
    return 0
