"""The one live set-up shared by the printer (cli_live) and the UI (ui.launch), in one fixed order.

1. ``StopSignals`` (sniffer.capture.signals) is installed by the CLI as soon as it sees ``-i``, before
   this module is imported; ``open_live`` attaches the capture to it.
2. ``check_options`` validates -a, -s and -B before anything opens, for both paths.
3. ``open_live`` opens the socket as root, imports everything the run will need while still root
   (a Python installed under /root is unreadable once we are the sudo user), then drops privileges.
   After the drop, an import that still fails is one line saying why, not a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.abc
import sys
from dataclasses import dataclass

from sniffer.capture.live import DEFAULT_FILTER, DEFAULT_SNAPLEN, LiveCapture, LiveCaptureError
from sniffer.capture.privileges import drop_privileges, target_user
from sniffer.capture.ring import RingError, RingOptions
from sniffer.capture.ring import parse as parse_ring
from sniffer.capture.signals import StopSignals

# Headless: the printer keeps up, so small ring blocks flushed every 10 ms. Under the UI new packets
# show 10 times a second, so ring blocks may wait 50 ms to fill, and a bigger ring rides out the
# pauses of a busy UI thread (a 30k packets/s flood lost packets with 8 MB / 10 ms). -B overrides.
HEADLESS_BUFFER_MB, HEADLESS_LATENCY_MS = 8.0, 10
UI_BUFFER_MB, UI_LATENCY_MS = 32.0, 50

# Imported lazily (inside functions) by Textual, Rich and the standard library once the UI runs:
# tracebacks, the palette, emoji and cell widths, the terminal driver, codecs. Preloaded so the drop
# cannot break them; tests/test_capture_privileges_ui.py drives the UI as a user who cannot read them.
UI_LAZY_MODULES = (
    "rich.traceback",
    "rich.console",
    "rich.markup",
    "rich.syntax",
    "rich.pretty",
    "rich.highlighter",
    "rich._emoji_codes",
    "rich._emoji_replace",
    "rich.emoji",
    "rich.cells",
    "textual.widgets",
    "textual.command",
    "textual.system_commands",
    "textual.screen",
    "textual.keys",
    "textual.fuzzy",
    "textual.css.query",
    "textual.drivers.linux_driver",
    "textual.drivers.linux_inline_driver",
    "textual._xterm_parser",
    "textual.filter",
    "encodings.idna",
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.utf_8_sig",
    "webbrowser",
    "pickle",
    "zlib",
)


def _usage(message: str, exit_code: int = 2) -> Exception:
    from sniffer.cli import UsageError

    return UsageError(message, exit_code)


@dataclass
class LiveOptions:
    duration: float | None
    snaplen: int
    buffer_mb: float | None  # None: the path's default
    ring: RingOptions | None  # -b: -w writes a series of files


def _duration(spec: str | None) -> float | None:
    if spec is None:
        return None
    kind, _, value = spec.partition(":")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if kind != "duration" or not 0 < seconds < float("inf"):
        raise _usage(f"bad -a '{spec}': expected duration:SECONDS")
    return seconds


def check_options(args: argparse.Namespace) -> LiveOptions:
    """-a, -s and -B checked the same way for the printer and the UI; a UsageError names the option."""
    duration = _duration(getattr(args, "autostop", None))
    snaplen = getattr(args, "snaplen", None)
    if snaplen is not None and snaplen < 0:
        raise _usage("-s needs a snapshot length >= 0")
    buffer_mb = getattr(args, "buffer_mb", None)
    if buffer_mb is not None and not 0 < buffer_mb < 1 << 20:
        raise _usage("-B needs a buffer size in MB > 0")
    ring = None
    if getattr(args, "ring", None):
        try:
            ring = parse_ring(args.ring, getattr(args, "write", None))
        except RingError as exc:
            raise _usage(str(exc), 1) from None  # 1 as tshark and dumpcap exit on a bad -b
    return LiveOptions(duration, snaplen or DEFAULT_SNAPLEN, buffer_mb, ring)


def preload(ui: bool) -> None:
    """Import every module the run may need later, while still root (see the module docstring)."""
    import pkgutil

    import sniffer

    skip = ("sniffer.synth", "sniffer.__main__", "sniffer.native_build") + (() if ui else ("sniffer.ui",))
    for mod in pkgutil.walk_packages(sniffer.__path__, "sniffer."):
        if not mod.name.startswith(skip):
            with contextlib.suppress(Exception):
                importlib.import_module(mod.name)
    if ui:
        for name in UI_LAZY_MODULES:
            with contextlib.suppress(Exception):
                importlib.import_module(name)
        # textual.widgets hands out its widgets lazily (module __getattr__): load them all now.
        with contextlib.suppress(Exception):
            widgets = importlib.import_module("textual.widgets")
            for name in getattr(widgets, "__all__", ()):
                with contextlib.suppress(Exception):
                    getattr(widgets, name)


class UnreadableModule(ModuleNotFoundError):
    """An import that failed after the privilege drop: one line for the user, never a traceback."""

    def __rich__(self) -> object:  # Textual shows an exception with __rich__ as is, without a traceback
        from rich.text import Text

        return Text(str(self))


class _AfterDrop(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path once root is dropped: a module nothing could find gets a message saying why."""

    def __init__(self, user: str) -> None:
        self.user = user

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        raise UnreadableModule(
            f"mqttsniff: cannot load the Python module {fullname!r} as {self.user} after dropping root"
            f" (is Python installed where {self.user} cannot read, e.g. under /root?): run with -Z root,"
            f" or install mqttsniff with a Python {self.user} can read",
            name=fullname,
        )


def open_live(args: argparse.Namespace, ui: bool, stop: StopSignals | None = None, drop: bool = True) -> LiveCapture:
    """The capture for ``args``, open, with privileges dropped, not yet started; LiveCaptureError if not.

    ``drop=False`` keeps root, for several interfaces opened in turn (sniffer.capture.multi drops once
    with drop_after(), before it starts ssh as the user)."""
    opts = check_options(args)
    cap = LiveCapture(
        args.interface,
        getattr(args, "capture_filter", None) or DEFAULT_FILTER,
        snaplen=opts.snaplen,
        promisc=not getattr(args, "no_promisc", False),
        buffer_mb=opts.buffer_mb or (UI_BUFFER_MB if ui else HEADLESS_BUFFER_MB),
        count=getattr(args, "count", None) or 0,
        duration=opts.duration,
        write_path=getattr(args, "write", None),
        latency_ms=UI_LATENCY_MS if ui else HEADLESS_LATENCY_MS,
        ring=opts.ring,
    )
    if cap.write_path:
        cap.secrets = keylog_tail(args)
    if stop is not None:
        stop.attach(cap)
    cap.open()
    if drop:
        drop_after(args, ui, [cap])
    return cap


def keylog_tail(args: argparse.Namespace):
    """With a TLS key log (--tls-keylog, -o tls.keylog_file), its new lines for the -w file(s) as Decryption
    Secrets Blocks (sniffer.tls.keylog.KeyLogTail); else None."""
    keylog = getattr(args, "tls_keylog", None) or (getattr(args, "prefs", None) or {}).get("tls.keylog_file", [None])[0]
    if not keylog:
        return None
    from sniffer.tls.keylog import KeyLogTail

    return KeyLogTail(keylog)


def drop_after(args: argparse.Namespace, ui: bool, caps: list[LiveCapture]) -> None:
    """Preload what the run needs, then drop root (-Z); LiveCaptureError (sockets closed) if that fails."""
    try:
        user = getattr(args, "user", None)
        if target_user(user) is not None:
            preload(ui)
        name = drop_privileges(user)
    except (ValueError, OSError) as exc:
        for cap in caps:
            if cap.sock is not None:
                cap.sock.close()
        raise LiveCaptureError(str(exc) if str(exc).startswith("mqttsniff:") else f"mqttsniff: {exc}") from None
    if name is not None:
        sys.meta_path.append(_AfterDrop(name))
