"""Live capture on Linux: AF_PACKET + kernel BPF + TPACKET_V3 ring, a capture thread, pcapng writing.

``LiveCapture`` is the entry point (the CLI's ``-i`` and the UI use it); ``interfaces`` serves ``-D``.
The live machinery (ctypes, sockets, threads) is imported on first use of a name below: every command
imports this package for its options, and reading a file needs none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# MQTT's port, and the fragments of its TCP segments (a router fragmented them: sniffer.net.ipfrag). "tcp port 1883"
# alone keeps an IPv4 datagram's first fragment only and no IPv6 fragment: after the first, a fragment carries no
# port, so every later fragment of TCP is taken, and an IPv6 first fragment (offset 0) by its ports
FRAGMENTS_FILTER = (
    "(ip[9] == 6 and ip[6:2] & 0x1fff != 0) or (ip6[6] == 44 and ip6[40] == 6"
    " and (ip6[42:2] & 0xfff8 != 0 or ip6[48:2] == 1883 or ip6[50:2] == 1883))"
)
DEFAULT_FILTER = f"tcp port 1883 or {FRAGMENTS_FILTER}"
DEFAULT_SNAPLEN = 262144

if TYPE_CHECKING:
    from sniffer.capture.live import CaptureStats, LiveCapture, LiveCaptureError

__all__ = ["DEFAULT_FILTER", "FRAGMENTS_FILTER", "CaptureStats", "LiveCapture", "LiveCaptureError"]


def __getattr__(name: str) -> Any:  # PEP 562: sniffer.capture.LiveCapture loads sniffer.capture.live
    if name in ("CaptureStats", "LiveCapture", "LiveCaptureError"):
        from sniffer.capture import live

        return getattr(live, name)
    raise AttributeError(f"module 'sniffer.capture' has no attribute {name!r}")
