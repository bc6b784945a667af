"""Live capture on Linux: AF_PACKET + kernel BPF + TPACKET_V3 ring, a capture thread, pcapng writing.

``LiveCapture`` is the entry point (the CLI's ``-i`` and the UI use it); ``interfaces`` serves ``-D``.
The live machinery (ctypes, sockets, threads) is imported on first use of a name below: every command
imports this package for its options, and reading a file needs none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

DEFAULT_FILTER = "tcp and port 1883"
DEFAULT_SNAPLEN = 262144

if TYPE_CHECKING:
    from sniffer.capture.live import CaptureStats, LiveCapture, LiveCaptureError

__all__ = ["DEFAULT_FILTER", "CaptureStats", "LiveCapture", "LiveCaptureError"]


def __getattr__(name: str) -> Any:  # PEP 562: sniffer.capture.LiveCapture loads sniffer.capture.live
    if name in ("CaptureStats", "LiveCapture", "LiveCaptureError"):
        from sniffer.capture import live

        return getattr(live, name)
    raise AttributeError(f"module 'sniffer.capture' has no attribute {name!r}")
