"""The command line's live path: `-i IFACE` with tcpdump/tshark's capture options, `-D`.

Frames go capture thread -> queue (then, if this thread falls behind, the backlog on disk: sniffer.capture.backlog)
-> this (main) thread -> sniffer.driver, the same loop,
Dissector and Printer as `-r`; output is flushed once per batch (batches leave the kernel at least every 10 ms), so
`-T fields` streams as packets arrive without a write(2) per line at high rates.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import TYPE_CHECKING

from sniffer.capture import DEFAULT_FILTER, DEFAULT_SNAPLEN

if TYPE_CHECKING:
    from sniffer.capture.signals import StopSignals

BROKEN_PIPE = "mqttsniff: output closed (broken pipe)"

LINKTYPE_NAMES = {1: "EN10MB (Ethernet)", 101: "RAW (Raw IP)", 113: "LINUX_SLL (Linux cooked v1)"}
# each live-only option's dest and the flag a user typed: the error names the flag, not the dest
LIVE_ONLY = {
    "capture_filter": "-f",
    "write": "-w",
    "ring": "-b",
    "autostop": "-a",
    "user": "-Z",
    "buffer_mb": "-B",
    "snaplen": "-s",
    "no_promisc": "-p",
    "remote_sudo": "--remote-sudo",
    "ssh_options": "--ssh-option",
    "align_clocks": "--align-clocks",
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
    g.add_argument(
        "-b",
        "--ring-buffer",
        dest="ring",
        action="append",
        metavar="KEY:N",
        help="with -w, write a series of files (dumpcap's ring buffer): filesize:KB duration:S interval:S"
        " packets:N files:N (repeatable, see README)",
    )
    g.add_argument("-a", dest="autostop", metavar="duration:SECONDS", help="stop after this many seconds")
    g.add_argument(
        "-D",
        dest="list_interfaces",
        nargs="?",
        const=True,
        default=False,
        metavar="ssh://HOST",
        help="list the interfaces (of a remote host too) and exit",
    )
    g.add_argument("-Z", dest="user", metavar="USER", help="after opening the capture, run as USER ('root' keeps root)")
    r = p.add_argument_group("remote capture (with -i ssh://[user@]host[:port]/IFACE; see README)")
    r.add_argument(
        "--remote-sudo",
        nargs="?",
        const="sudo",
        choices=["sudo", "doas"],
        help="run the remote tcpdump through sudo -n (or doas -n): no password prompt, NOPASSWD needed",
    )
    r.add_argument(
        "--ssh-option",
        dest="ssh_options",
        action="append",
        metavar="KEY=VALUE",
        help="an ssh -o option (repeatable), e.g. ProxyJump=bastion; BatchMode=no allows ssh's prompts",
    )
    r.add_argument(
        "--align-clocks", action="store_true", help="shift each remote's timestamps by its measured clock offset"
    )


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


def split_interfaces(args: argparse.Namespace) -> None:
    """args.interfaces: every -i in order; args.interface: the first (what the single-interface paths read)."""
    names = args.interface or []
    args.interfaces = names
    args.interface = names[0] if names else None
    if names and not any(n.startswith("ssh://") for n in names) and len(names) == 1:
        return
    if getattr(args, "read", None) or getattr(args, "demo", False):
        return  # "give only one of -r, -i and --demo" comes next
    from sniffer.capture.remote import RemoteError, is_remote, parse_url

    for n in names:
        if is_remote(n):
            try:
                parse_url(n)
            except RemoteError as exc:
                from sniffer.cli import UsageError

                raise UsageError(str(exc)) from None


def list_interfaces(args: argparse.Namespace | None = None) -> int:
    where = getattr(args, "list_interfaces", True)
    if isinstance(where, str):
        from sniffer.capture.remote import RemoteError, list_remote

        try:
            text = list_remote(where, getattr(args, "ssh_options", None) or [], getattr(args, "remote_sudo", None))
        except RemoteError as exc:
            _warn(str(exc))
            return exc.exit_code
        sys.stdout.write(text)
        return 0
    from sniffer.capture.interfaces import format_list

    sys.stdout.write(format_list() + "\n")
    return 0


def _warn(message: str) -> None:
    if not message.startswith("mqttsniff:"):
        message = f"mqttsniff: {message}"
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def run(args: argparse.Namespace, dissector, sink, stop: StopSignals) -> int:
    """Capture on ``args.interface`` until -c/-a/a stop signal/a fault; returns the exit code.

    ``stop`` was installed by the CLI before the heavy imports: signals only ask the capture thread
    to stop, and this loop then drains what was captured, so nothing raises out of the middle of it.
    ``sink`` (sniffer.driver) takes the dissector's rows and writes them out after every batch.
    """
    from sniffer.capture.multi import wants_multi

    if wants_multi(args):
        return run_multi(args, dissector, sink, stop)
    from sniffer.capture.live import LiveCaptureError
    from sniffer.capture.setup import open_live
    from sniffer.driver import drive
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
    try:
        # a second Ctrl-C ends the run without waiting for the backlog to be printed
        drive(LiveSource(cap, poll=0.5), dissector, sink, stop=lambda: stop.count > 1)
        sink.close()
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


def run_multi(args: argparse.Namespace, dissector, sink, stop: StopSignals) -> int:
    """Several interfaces or remotes (sniffer.capture.multi) merged, headless; per-source counts at exit."""
    from sniffer.capture.live import LiveCaptureError
    from sniffer.capture.multi import open_multi
    from sniffer.capture.remote import RemoteError, format_offset
    from sniffer.driver import drive
    from sniffer.textesc import escape

    def warn(message: str) -> None:
        _warn(escape(message))  # a remote's words never drive the terminal

    try:
        multi = open_multi(args, ui=False, stop=stop, warn=warn)
        multi.start()
    except (LiveCaptureError, RemoteError) as exc:
        warn(str(exc))
        return exc.exit_code
    for m in multi.members:
        offset = getattr(m, "offset", None)
        clock = f", {format_offset(offset, m.rtt)}" if hasattr(m, "rtt") else ""
        warn(f"capturing on {m.iface_name}, link-type {LINKTYPE_NAMES.get(m.linktype, m.linktype)}{clock}")
    code = 0
    try:
        drive(multi, dissector, sink, stop=lambda: stop.count > 1)
        sink.close()
    except BrokenPipeError:
        multi.request_stop()
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
        multi.stop()
        sys.stderr.write("".join(escape(line) + "\n" for line in multi.summary().splitlines()))
        _warn(BROKEN_PIPE)
        return code
    finally:
        multi.stop()
    sys.stderr.write("".join(escape(line) + "\n" for line in multi.summary().splitlines()))
    if dissector.cap_message():
        _warn(dissector.cap_message())
    for error in multi.errors():
        warn(error)
        code = 1
    return code
