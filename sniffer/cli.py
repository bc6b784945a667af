"""Command line: tshark's options and conventions for reading, printing and (later) capturing.

stdout carries packet output only; every diagnostic goes to stderr as one line
prefixed "mqttsniff:". Errors exit non-zero without a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from sniffer import __version__

if TYPE_CHECKING:
    from collections.abc import Callable

    from sniffer.pipeline import RowDissector
    from sniffer.source import FileSource
    from sniffer.stats import StatsSink

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
# The UI's list on a live capture keeps at most this many frames by default (--keep-frames; the stores hold
# 1.5x as many rows at most: RSS 200-350 MB, spill <= ~180 MB in a 30-minute bench/bench_soak.py run), so a gateway
# watched for days stays within its memory.
LIVE_KEEP_FRAMES = 1_000_000


class UsageError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # 1 where tshark's own check exits 1 (a bad -b)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + error
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mqttsniff",
        description="A Wireshark-like MQTT sniffer for the terminal. Options follow tshark's.",
        epilog="Examples: mqttsniff -r capture.pcap -V ; sudo mqttsniff -i eth0 -T fields -e mqtt.topic",
    )
    src = p.add_argument_group("input")
    src.add_argument("-r", dest="read", metavar="FILE", help="read a pcap/pcapng file ('-' for standard input)")
    src.add_argument(
        "-i",
        dest="interface",
        action="append",
        metavar="IFACE",
        help="capture live on this interface (needs root), or ssh://[user@]host[:port]/IFACE (repeatable)",
    )
    src.add_argument("--demo", action="store_true", help="read the bundled demo capture")
    src.add_argument("-c", dest="count", type=int, metavar="N", help="stop after N frames")
    src.add_argument(
        "-d",
        dest="decode_as",
        action="append",
        default=[],
        metavar="tcp.port==N,mqtt",
        help="decode TCP port N as MQTT, or as MQTT over TLS with tcp.port==N,tls (repeatable)",
    )
    src.add_argument("--max-pdu", type=int, default=16 * 1024 * 1024, metavar="BYTES", help="buffer cap per PDU")
    src.add_argument(
        "--max-buffered",
        type=int,
        default=64 * 1024 * 1024,
        metavar="BYTES",
        help="cap on the bytes of unfinished PDUs held across all connections (oldest given up first)",
    )
    src.add_argument("--no-detect", action="store_true", help="do not recognise MQTT on other ports from a CONNECT")
    src.add_argument(
        "-o",
        dest="prefs",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="a preference, as tshark's -o (repeatable; see README)",
    )
    src.add_argument("--tls-keylog", metavar="PATH", help="TLS key log file: -o tls.keylog_file:PATH")
    src.add_argument(
        "-n", dest="no_names", action="store_true", help="no name resolution: MAC addresses shown bare (as tshark -n)"
    )
    src.add_argument(
        "-N",
        dest="name_flags",
        metavar="m",
        help="resolve only these kinds of names, as tshark's -N; m (MAC addresses: vendor, well-known, ethers) "
        "is the one mqttsniff has, and its default",
    )

    out = p.add_argument_group("output")
    out.add_argument("-T", dest="fmt", choices=["text", "fields", "json", "ndjson"], default="text")
    out.add_argument("-e", dest="fields", action="append", default=[], metavar="FIELD", help="field for -T fields")
    out.add_argument(
        "-E", dest="field_opts", action="append", default=[], metavar="OPT=VAL", help="header, separator, ..."
    )
    out.add_argument("-V", dest="verbose", action="store_true", help="print the full decoded tree")
    out.add_argument(
        "-O", dest="only", metavar="PROTOS", help="print the tree, expanding only these protocols (e.g. mqtt)"
    )
    out.add_argument("-x", dest="hex", action="store_true", help="print hex and ASCII dumps (with -V: after the tree)")
    out.add_argument(
        "-P", dest="summary", action="store_true", help="print the summary line too, before -V's tree or -x's dumps"
    )
    out.add_argument(
        "-Y",
        dest="display_filter",
        metavar="EXPR",
        help="print only frames matching this Wireshark display filter, e.g. 'mqtt.msgtype == 3'",
    )
    out.add_argument(
        "-z",
        dest="stats",
        action="append",
        default=[],
        metavar="STAT",
        help="statistics after the packets: mqtt,clients mqtt,topics mqtt,latency expert (repeatable)",
    )
    out.add_argument("-q", dest="quiet", action="store_true", help="print no packets (only the -z statistics)")
    out.add_argument(
        "-2", dest="two_pass", action="store_true", help="two passes over a file: response fields on earlier frames"
    )
    out.add_argument("--show-secrets", action="store_true", help="show passwords instead of ********")
    out.add_argument("--no-ui", action="store_true", help="print packets instead of opening the UI on a terminal")
    out.add_argument(
        "--keep-frames",
        type=int,
        metavar="N",
        help=f"the UI's list keeps the newest N/2 to N frames, the older ones leave it (0: all; default: all of "
        f"a file, {LIVE_KEEP_FRAMES:,} of a live capture); the session views count every frame",
    )
    out.add_argument("-G", dest="glossary", choices=["fields"], help="list the registered fields and exit")
    from sniffer.capture.cli_live import add_arguments as add_live_arguments

    add_live_arguments(p)  # -f -s -p -B -w -a -D -Z
    from sniffer import native

    p.add_argument("-v", "--version", action="version", version=f"mqttsniff {__version__} ({native.MODE})")
    return p


def _field_options(opts: list[str]) -> dict[str, str]:
    names = {
        "header": "header",
        "separator": "separator",
        "aggregator": "aggregator",
        "occurrence": "occurrence",
        "quote": "quote",
    }
    out: dict[str, str] = {}
    for o in opts:
        key, _, val = o.partition("=")
        if key not in names or not _:
            raise UsageError(f"invalid -E option '{o}' (known: {', '.join(names)})")
        out[key] = val
    for key in ("separator", "aggregator"):
        if key in out:
            if not out[key]:
                raise UsageError(f"-E {key} needs a character ('/t' tab, '/s' space)")
            # tshark's escapes: /s is a space for both, /t a tab for the separator only
            out[key] = {"/s": " ", "/t": "\t" if key == "separator" else "/t"}.get(out[key], out[key])
    if "header" in out and out["header"] not in ("y", "n"):
        raise UsageError("-E header must be y or n")
    if "quote" in out:
        out["quote"] = {"d": '"', "s": "'", "n": ""}.get(out["quote"])
        if out["quote"] is None:
            raise UsageError("-E quote must be d, s or n")
    if "occurrence" in out and not re.fullmatch(r"[afl]|\d+", out["occurrence"]):
        raise UsageError("-E occurrence must be f, l, a or a number")
    return out


def _decode_as_ports(specs: list[str], proto: str = "mqtt") -> set[int]:
    """The ports of the -d specs naming `proto` (mqtt or tls); a spec naming neither is an error."""
    ports = set()
    for spec in specs:
        m = re.fullmatch(r"tcp\.port\s*==\s*(\d+)\s*,\s*(mqtt|tls)", spec.strip())
        if not m or not 0 < int(m.group(1)) < 65536:
            raise UsageError(f"bad -d '{spec}': expected tcp.port==N,mqtt or tcp.port==N,tls")
        if m.group(2) == proto:
            ports.add(int(m.group(1)))
    return ports


def _tls_options(args: argparse.Namespace) -> tuple[frozenset[int], Any]:
    """TLS ports (8883 and -d tcp.port==N,tls) and the key log (-o tls.keylog_file, --tls-keylog), if any."""
    from sniffer.pipeline import DEFAULT_TLS_PORTS

    ports = DEFAULT_TLS_PORTS | _decode_as_ports(args.decode_as, "tls")
    path = args.tls_keylog or (args.prefs.get("tls.keylog_file") or [None])[0]
    if not path:
        return ports, None
    from sniffer.tls.keylog import KeyLog, KeyLogError

    try:
        return ports, KeyLog(path)
    except KeyLogError as e:
        raise UsageError(str(e)) from None


def _tls_setup(dissector: RowDissector, args: argparse.Namespace) -> None:
    dissector.tls_ports, dissector.tls_keylog = _tls_options(args)


def demo_path() -> str:
    # beside this module, as pip installs it (importlib.resources would cost --demo ~10 ms of imports)
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "demo.pcap")


def _glossary() -> int:
    from sniffer import pipeline  # noqa: F401  (registers every field)
    from sniffer.fields import REGISTRY

    lines = [
        f"F\t{fd.name}\t{fd.abbrev}\t{fd.ftype.name}\t{fd.protocol}\t{fd.blurb}"
        for fd in sorted(REGISTRY.values(), key=lambda f: f.abbrev)
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def _display_filter(text: str):
    """The compiled -Y filter; a bad one is a usage error naming its column."""
    from sniffer.filter import FilterError, compile_filter

    try:
        return compile_filter(text)
    except FilterError as e:
        raise UsageError(f"invalid display filter at column {e.column}: {e.message}") from None


def _warn(msg: str) -> None:
    from sniffer.textesc import escape

    # messages quote file names, filters and text from captures: none may drive the terminal
    sys.stderr.write(f"mqttsniff: {escape(msg)}\n")
    sys.stderr.flush()


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.only:
        args.verbose = True  # as tshark: -O prints the tree (these protocols expanded) without -V
    if args.glossary:
        return _glossary()
    from sniffer.capture import cli_live

    if args.list_interfaces:
        return cli_live.list_interfaces(args)
    cli_live.split_interfaces(args)  # args.interfaces: every -i; args.interface: the first (None: no -i)
    stop = None
    if args.interface:
        # First thing on the live path, before the slow imports: from here on a stop signal always
        # ends the capture cleanly with its counts (sniffer.capture.signals).
        from sniffer.capture.signals import StopSignals

        stop = StopSignals().install()
    cli_live.check_args(args)
    if args.count is not None and args.count <= 0:
        raise UsageError("-c needs a positive number of frames")
    if args.keep_frames is not None and args.keep_frames < 0:
        raise UsageError("--keep-frames needs a number of frames (0: keep all)")
    for flag, value in (("--max-pdu", args.max_pdu), ("--max-buffered", args.max_buffered)):
        if value <= 0:  # 0 or less would give up every PDU without a word about why
            raise UsageError(f"{flag} needs a positive number of bytes")
    sources = [x for x in (args.read, args.interface, args.demo or None) if x]
    if len(sources) > 1:
        raise UsageError("give only one of -r, -i and --demo")
    if not sources:
        raise UsageError("nothing to read: give -r FILE, -i IFACE or --demo (see --help)")
    if args.fmt == "fields" and not args.fields:
        raise UsageError("-T fields needs at least one -e FIELD")
    if args.fields and args.fmt != "fields":
        raise UsageError("-e needs -T fields")
    fopts = _field_options(args.field_opts)
    from sniffer.prefs import PrefError, parse

    try:
        args.prefs = parse(args.prefs)  # NAME -> [values]
    except PrefError as e:
        raise UsageError(str(e)) from None
    _name_resolution(args)
    from sniffer.payload.choose import DecodeConfigError, configure

    try:  # the topic -> payload decoder table: -o mqtt.decode, then decoders.toml
        configure(args.prefs.get("mqtt.decode", []), args.max_pdu)
    except DecodeConfigError as e:
        raise UsageError(str(e)) from None
    from sniffer.credentials import SecretConfigError
    from sniffer.credentials import configure as configure_secrets

    try:
        configure_secrets(args.prefs.get("mqtt.secret", []))
    except SecretConfigError as e:
        raise UsageError(str(e)) from None
    ports = {1883} | _decode_as_ports(args.decode_as)
    dfilter = _display_filter(args.display_filter) if args.display_filter else None
    stats = _statistics(args)

    from sniffer.ui.launch import wants_ui  # light: Textual is imported only if the UI opens

    if wants_ui(args):
        from sniffer.pipeline import Dissector
        from sniffer.ui import launch

        ui_dissector = Dissector(ports, max_pdu=args.max_pdu, detect=not args.no_detect, max_buffered=args.max_buffered)
        _tls_setup(ui_dissector, args)
        return launch.run(args, ui_dissector, stop)

    path = demo_path() if args.demo else args.read
    from sniffer.output.fields import UnknownField
    from sniffer.output.printer import OutputOptions, Printer
    from sniffer.pipeline import Dissector

    opts = OutputOptions(
        fmt=args.fmt,
        fields=args.fields,
        verbose=args.verbose,
        hex=args.hex,
        summary=args.summary,
        only_protocols=set(args.only.split(",")) if args.only else None,
        show_secrets=args.show_secrets,
        separator=fopts.get("separator", "\t"),
        aggregator=fopts.get("aggregator", ","),
        occurrence=fopts.get("occurrence", "a"),
        quote=fopts.get("quote", ""),
        header=fopts.get("header") == "y",
    )
    try:
        printer = Printer(opts, sys.stdout, line_buffered=args.read == "-" or bool(args.interface))
    except UnknownField as e:
        raise UsageError(str(e)) from None
    from sniffer.session.demand import needed as sessions_needed

    kw = {
        "max_pdu": args.max_pdu,
        "detect": not args.no_detect,
        "max_buffered": args.max_buffered,
        "sessions": sessions_needed(
            args.fmt, args.verbose, args.fields, args.display_filter, stats=stats is not None or args.two_pass
        ),
    }
    if args.two_pass:
        from sniffer.stats.twopass import first_pass

        tls_ports, tls_keylog = _tls_options(args)
        kw["prefill"] = first_pass(path, args.count, ports, **kw, tls_ports=tls_ports, tls_keylog=tls_keylog)
    # -z sees every Frame: no line straight from the dissector then
    lines = dfilter is None and printer.line is not None and stats is None
    # (a live capture's lines too: 2.2 us a frame where a Frame per packet took 3.6; one local interface
    # only: a merged source, several -i or a remote, names each frame's interface, which a Frame carries)
    direct = lines and (opts.fmt == "text" or printer.fields is not None and printer.fields.direct)
    if direct and args.interface:
        from sniffer.capture.multi import wants_multi

        direct = not wants_multi(args)
    arrow_mark = ""  # what the dissector's lines hold for "\u2192" (LineSink)
    if direct and opts.fmt == "text":
        # The summary of a file or one local interface: lines straight from the dissector, without a Frame
        # (sniffer.output.summary).
        from sniffer.output.summary import ARROW_MARK, SummaryDissector

        dissector: RowDissector = SummaryDissector(ports, **kw)
        arrow_mark = ARROW_MARK
    elif direct and printer.fields is not None:
        from sniffer.output.summary import FieldsDissector  # -T fields lines without a Frame either

        f = printer.fields
        dissector = FieldsDissector(ports, f.names, f.line, f.separator, f.aggregator, **kw)
    else:
        dissector = Dissector(ports, **kw)
    _tls_setup(dissector, args)
    if dfilter is not None:
        # -Y: print only matching frames; numbers stay those of the capture, as in tshark
        printer.frame = displayed_only(printer.frame, dfilter.matches)
    if stats is not None:
        stats.tee(printer, args.quiet)  # every frame to the statistics, then (unless -q) to the printer

    if stop is not None:
        from sniffer.driver import LineSink, PrinterSink

        tune_collector()
        live_sink: LineSink | PrinterSink
        if direct:
            printer.flush()  # the -E header=y line
            live_sink = LineSink(sys.stdout, None, line_buffered=True, arrow_mark=arrow_mark)
        else:
            printer.line_buffered = False  # flushed once per batch
            live_sink = PrinterSink(printer, flush=True)
        code = cli_live.run(args, dissector, live_sink, stop)
        if stats is not None:
            stats.report(sys.stdout)
        return code

    from sniffer.driver import LineSink, PrinterSink, drive
    from sniffer.source import FileSource

    source = FileSource(path, args.count, exact=None)  # (nanosecond stamps kept where a file has them)
    from sniffer.tls.keylog import use_secrets_blocks

    use_secrets_blocks(dissector, source.reader)
    sink: LineSink | PrinterSink
    if lines:
        # One line per frame (summary, -T fields): written a batch at a time, no Printer call per frame
        printer.flush()  # the -E header=y line
        render = None if direct else printer.line  # a Summary/FieldsDissector's rows are lines
        sink = LineSink(sys.stdout, render, line_buffered=args.read == "-", arrow_mark=arrow_mark)
    else:
        sink = PrinterSink(printer)
    tune_collector()
    try:
        number = drive(source, dissector, sink)
    finally:
        sink.close()
    if stats is not None:
        stats.report(sys.stdout)
    warn_buffer_cap(dissector)
    return _finish(source, number)


def displayed_only(show: Callable[[Any], Any], matches: Callable[[Any], bool]) -> Callable[[Any], Any]:
    """-Y: `show` only the frames that match. Each frame's frame.time_delta_displayed counts from the last
    frame displayed (0 before any), as tshark's single pass does, when the filter is evaluated too."""
    last: list[Any] = [None]  # (ts, ns or None) of the last displayed frame

    def frame(fr: Any) -> Any:
        prev = last[0]
        exact = fr.exact
        if prev is None:
            fr.shown = (0.0, 0)
        else:
            secs = fr.ts - prev[0]
            fr.shown = (secs, exact[0] - prev[1] if exact is not None and prev[1] is not None else round(secs * 1e9))
        if not matches(fr):
            return None
        last[0] = (fr.ts, None if exact is None else exact[0])
        return show(fr)

    return frame


def tune_collector() -> None:
    """Tune the cyclic garbage collector for a headless run (a file or a live capture). -V, JSON and -Y
    build a tree of 100-1,000 nodes per frame and drop it, freed by reference counting (trees hold no
    cycles); the session layer keeps each connection's state and the last 10 s of publications. At the
    default threshold (a pass every 700 allocations) the collector walks the live tree and that state
    again and again, and its older generations everything start-up made: ~15 % of -T ndjson's CPU time
    on a 5,000-frame slice. Start-up's objects are frozen out of its passes, and a pass comes every
    100,000 allocations (cyclic garbage, rare here, is still freed). The UI tunes its own
    (sniffer.ui.loader)."""
    import gc

    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _statistics(args: argparse.Namespace) -> StatsSink | None:
    """The -z statistics (None without -z or -q); -z, -q and -2 print, so they keep the UI closed."""
    if args.two_pass and (args.interface or args.read == "-"):
        raise UsageError("-2 reads the capture twice: only with -r FILE or --demo, not with -r - or -i")
    if not (args.stats or args.quiet):
        if args.two_pass:
            args.no_ui = True
        return None
    from sniffer.stats import StatsError, parse

    args.no_ui = True
    try:
        return parse(args.stats)
    except StatsError as e:
        raise UsageError(str(e)) from None


def warn_buffer_cap(dissector: RowDissector) -> None:
    """One line on stderr when the cap on buffered bytes made PDUs be given up (--max-buffered)."""
    message = dissector.cap_message()
    if message:
        _warn(message)


def _finish(source: FileSource, number: int) -> int:
    """Exit status of reading a file: an error (with a warning) if it was cut short."""
    if source.truncated():
        _warn(f"'{source.path}' appears to have been cut short in the middle of a packet; decoded {number} frames")
        return EXIT_ERROR
    return EXIT_OK


def _printable_output() -> None:
    """An output whose encoding lacks a character we print ("\u2192" on every summary line; a topic's
    non-ASCII text), e.g. PYTHONIOENCODING=latin-1 or a non-UTF-8 locale, gets it as a \\u escape, as
    Python prints to such a terminal, instead of the run ending on its first line."""
    for stream in (sys.stdout, sys.stderr):
        if (stream.encoding or "").lower().replace("-", "").replace("_", "") != "utf8":
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")


# tshark's -N letters; mqttsniff resolves MAC addresses only and looks up no host, port or VLAN name
_NAME_FLAGS = {"d": "names from DNS packets", "g": "geolocation", "m": "", "n": "network (host) names",
               "N": "external resolvers", "s": "names from SNI", "t": "transport (port) names",
               "v": "VLAN names"}  # fmt: skip


def _name_resolution(args: argparse.Namespace) -> None:
    """-n, -N and -o nameres.mac_name decide whether MAC addresses get names (sniffer.net.names); -N wins
    over -n, as in tshark."""
    from sniffer.net.names import MAC

    on = not args.no_names
    for value in args.prefs.get("nameres.mac_name", []):
        if value.strip().upper() not in ("TRUE", "FALSE"):
            raise UsageError(f"-o nameres.mac_name:{value}: expected TRUE or FALSE")
        on = value.strip().upper() == "TRUE"
    if args.name_flags is not None:
        for letter in args.name_flags:
            if letter not in _NAME_FLAGS:
                raise UsageError(f"-N: unknown name resolution flag '{letter}' (tshark's are {''.join(_NAME_FLAGS)})")
            if _NAME_FLAGS[letter]:
                raise UsageError(
                    f"-N {letter}: mqttsniff resolves MAC addresses only (-N m), not {_NAME_FLAGS[letter]}"
                )
        on = "m" in args.name_flags
    MAC.enabled = on


def main(argv: list[str] | None = None) -> int:
    _printable_output()
    try:
        return run(argv)
    except UsageError as e:
        _warn(str(e))
        return e.exit_code
    except BrokenPipeError:
        # A reader such as `head` went away: say so in one line and fail, like tcpdump ("Unable to
        # write output: Broken pipe"); stdout goes to /dev/null so Python's flush at exit stays quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        _warn("output closed (broken pipe)")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # errors of our own carry a message fit to show as is
        if isinstance(e, ImportError) and str(e).startswith("mqttsniff:"):  # after the privilege drop
            sys.stderr.write(f"{e}\n")
            return EXIT_ERROR
        from sniffer.net.pcapfile import CaptureError

        if isinstance(e, CaptureError):
            _warn(str(e))
            return EXIT_ERROR
        if isinstance(e, OSError):
            _warn(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
            return EXIT_ERROR
        if os.environ.get("MQTTSNIFF_DEBUG"):
            raise
        _warn(f"internal error: {type(e).__name__}: {e} (set MQTTSNIFF_DEBUG=1 for the traceback)")
        return 3
