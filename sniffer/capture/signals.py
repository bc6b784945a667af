"""SIGINT, SIGTERM and SIGHUP during a live capture: a stop request, never an exception.

Installed by the CLI as soon as the command line says ``-i``, before the heavy imports: from then on
a stop signal only *asks* the capture to stop (a flag and a byte down a pipe, as tcpdump's cleanup
does), so a signal at any moment (during imports, while the socket opens, mid-batch, during the
final flush) ends the run the same way: output flushed, -w file closed, counts printed, exit 0 (as
tcpdump). Only a remote capture still connecting over ssh exits 128 + the signal (130 for SIGINT:
"interrupted while connecting", sniffer.capture.remote): nothing was captured. Light on purpose: only
``signal`` is imported.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sniffer.capture.live import LiveCapture
    from sniffer.capture.multi import MultiCapture
    from sniffer.capture.remote import RemoteCapture

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """SIGINT/SIGTERM/SIGHUP as a stop request for the live capture, installed before anything slow.

    The handler never raises (a KeyboardInterrupt can land anywhere: inside a join, a flush, the
    import of a module) and never takes a lock; it records the signal and wakes the capture.
    """

    def __init__(self) -> None:
        self.signum = 0  # the first stop signal received, 0 for none
        self.count = 0  # how many arrived: a second one while draining stops the draining
        self._capture: LiveCapture | MultiCapture | RemoteCapture | None = None
        self._old: dict[int, object] = {}

    def install(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            # As tcpdump does: stop on SIGINT even when started with it ignored (a background job `cmd &`).
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def reinstall(self) -> None:
        """Take the signals back (after the UI's event loop had them)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)  # type: ignore[arg-type]

    def attach(self, capture: LiveCapture | MultiCapture | RemoteCapture) -> None:
        """Stop this capture on the next signal, or at once if one already came."""
        self._capture = capture
        if self.signum:
            capture.request_stop()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = self.signum or signum
        self.count += 1
        if self._capture is not None:
            self._capture.request_stop()
