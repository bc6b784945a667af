"""The command line's live path: `-i IFACE` with tcpdump/tshark's capture options, `-D`.

Frames go capture thread -> bounded queue -> this (main) thread -> the same Dissector and Printer as
`-r`; output is flushed once per batch (batches leave the kernel at least every 10 ms), so
`-T fields` streams as packets arrive without a write(2) per line at high rates.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from sniffer.capture.live import DEFAULT_FILTER, DEFAULT_SNAPLEN

LINKTYPE_NAMES = {1: "EN10MB (Ethernet)", 101: "RAW (Raw IP)", 113: "LINUX_SLL (Linux cooked v1)"}
LIVE_ONLY = ("capture_filter", "write", "autostop", "user", "buffer_mb", "snaplen", "no_promisc")


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


def _usage(message: str) -> Exception:
    from sniffer.cli import UsageError

    return UsageError(message)


def check_args(args: argparse.Namespace) -> None:
    """Reject live-only options without -i (a usage error, like tshark's)."""
    if not getattr(args, "interface", None):
        used = [name for name in LIVE_ONLY if getattr(args, name, None) not in (None, False)]
        if used:
            raise _usage(f"{', '.join(used).replace('_', ' ')}: only with -i IFACE (live capture)")


def _duration(spec: str | None) -> float | None:
    if spec is None:
        return None
    kind, _, value = spec.partition(":")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if kind != "duration" or seconds <= 0:
        raise _usage(f"bad -a '{spec}': expected duration:SECONDS")
    return seconds


def list_interfaces() -> int:
    from sniffer.capture.interfaces import format_list

    sys.stdout.write(format_list() + "\n")
    return 0


def _warn(message: str) -> None:
    if not message.startswith("mqttsniff:"):
        message = f"mqttsniff: {message}"
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def preload() -> None:
    """Import every headless module now, while still root.

    After dropping to the sudo user the interpreter's own directories may be unreadable (a Python
    installed under /root, as pyenv does), so a lazy import later would fail mid-capture.
    """
    import importlib
    import pkgutil

    import sniffer

    for mod in pkgutil.walk_packages(sniffer.__path__, "sniffer."):
        if not mod.name.startswith(("sniffer.ui", "sniffer.synth", "sniffer.__main__")):
            with contextlib.suppress(Exception):
                importlib.import_module(mod.name)


def _sigterm(_signum, _frame) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, dissector, printer) -> int:
    """Capture on ``args.interface`` until -c/-a/Ctrl-C/a fault; returns the exit code."""
    from sniffer.capture.live import LiveCapture, LiveCaptureError
    from sniffer.capture.privileges import drop_privileges

    duration = _duration(args.autostop)
    if args.snaplen is not None and args.snaplen < 0:
        raise _usage("-s needs a snapshot length >= 0")
    if args.buffer_mb is not None and args.buffer_mb <= 0:
        raise _usage("-B needs a buffer size in MB > 0")
    cap = LiveCapture(
        args.interface,
        args.capture_filter or DEFAULT_FILTER,
        snaplen=args.snaplen or DEFAULT_SNAPLEN,
        promisc=not args.no_promisc,
        buffer_mb=args.buffer_mb or 8,
        count=args.count or 0,
        duration=duration,
        write_path=args.write,
    )
    try:
        cap.open()
        try:
            if os.geteuid() == 0:
                preload()
            drop_privileges(args.user)
        except (ValueError, OSError) as exc:
            cap.sock.close()
            _warn(str(exc))
            return 1
        cap.start()
    except LiveCaptureError as exc:
        _warn(str(exc))
        return exc.exit_code
    _warn(
        f"capturing on {args.interface} ({cap.mode}), link-type {LINKTYPE_NAMES.get(cap.linktype, cap.linktype)},"
        f" snapshot length {cap.snaplen} bytes,"
        f" filter {cap.bpf_expr!r}"
    )
    old_term = signal.signal(signal.SIGTERM, _sigterm)
    # As tcpdump does: stop on SIGINT even when started with it ignored (a background job `cmd &`).
    old_int = signal.signal(signal.SIGINT, _sigterm)
    printer.line_buffered = False  # flushed per batch below
    number = 0
    frame = dissector.frame
    try:
        try:
            for batch in cap.batches():
                for ts, linktype, data, orig_len in batch:
                    number += 1
                    printer.frame(frame(number, ts, linktype, data, orig_len))
                printer.flush()
        except KeyboardInterrupt:
            # Ctrl-C: stop capturing, then show what was already captured.
            cap.stop()
            for batch in cap.batches():
                for ts, linktype, data, orig_len in batch:
                    number += 1
                    printer.frame(frame(number, ts, linktype, data, orig_len))
        printer.close()
    except BrokenPipeError:
        # The reader (`head`) went away: close the capture and the -w file, and leave quietly.
        cap.stop()
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        cap.stop()
        signal.signal(signal.SIGTERM, old_term if old_term is not None else signal.SIG_DFL)
        signal.signal(signal.SIGINT, old_int if old_int is not None else signal.SIG_DFL)  # None: set from C
    sys.stderr.write(cap.summary() + "\n")
    if cap.error:
        _warn(cap.error)
        return 1
    return 0
