"""Live capture on Linux: AF_PACKET + kernel BPF + TPACKET_V3 ring, a capture thread, pcapng writing.

``LiveCapture`` is the entry point (the CLI's ``-i`` and the UI use it); ``interfaces`` serves ``-D``.
"""

from sniffer.capture.live import DEFAULT_FILTER, CaptureStats, LiveCapture, LiveCaptureError

__all__ = ["DEFAULT_FILTER", "CaptureStats", "LiveCapture", "LiveCaptureError"]
