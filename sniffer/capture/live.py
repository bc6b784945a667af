"""Live capture: a thread that receives frames and hands batches to a consumer through a bounded queue.

The capture thread owns the socket and the ``-w`` file; the consumer (the dissecting pipeline, the
headless printer, the UI) reads whole batches of ``(ts, linktype, data, orig_len)`` at its own pace
and is never called from the capture thread. When the consumer falls behind and the queue is full,
the batches wait on disk (sniffer.capture.backlog) and come after it in order; only beyond that
file's limit, or on a disk that fails, are whole batches dropped (and counted). The ``-w`` file gets
every frame either way.

Usage::

    cap = LiveCapture("lo", "tcp port 1883", write_path="x.pcapng")
    cap.open()              # needs root/CAP_NET_RAW; raises LiveCaptureError
    drop_privileges()       # optional, between open() and start()
    cap.start()
    for batch in cap.batches():   # ends when the capture stops (count, duration, stop(), fault)
        ...
    cap.stop(); print(cap.summary(), file=sys.stderr)
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from librt.strings import BytesWriter

from sniffer.capture import DEFAULT_FILTER, DEFAULT_SNAPLEN, blocks, bpf  # (the defaults live in the light package)
from sniffer.capture.backlog import MAX_BYTES, Handoff
from sniffer.capture.interfaces import ARPHRD_ETHER, ARPHRD_LOOPBACK, ARPHRD_NONE, InterfaceError, lookup
from sniffer.capture.packet_socket import Frame, InterfaceDown, PacketSocket
from sniffer.capture.pcapng import PcapngWriter, header
from sniffer.capture.privileges import permission_message
from sniffer.capture.ring import RingOptions, RingWriter

STATS_INTERVAL = 0.5  # seconds between reads of the kernel's counters
# The GIL's switch interval while a capture thread runs. That thread takes the GIL back after every poll()
# and write(); from a busy dissector this can take a whole switch interval (5 ms by default) while the ring
# fills. In bench/bench_knee.py headless -w kept up at 700,000 packets/s in both passes with 0.5 ms, and dropped
# in one of two with 5 ms: a small gain, within this machine's noise, for no measured cost.
SWITCH_INTERVAL = 0.0005
_switch = {"users": 0, "saved": 0.005}  # captures running, and the interval before the first
_switch_lock = threading.Lock()


def _lower_switch_interval() -> None:
    with _switch_lock:
        if not _switch["users"]:
            _switch["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch["saved"], SWITCH_INTERVAL))
        _switch["users"] += 1


def _restore_switch_interval() -> None:
    """Put the interval back when the last capture thread ends (the dissector may go on reading its queue)."""
    with _switch_lock:
        _switch["users"] -= 1
        if not _switch["users"]:
            sys.setswitchinterval(_switch["saved"])


# A batch between the capture thread and the consumer: (frames, their ns stamps), or (ring blocks, None)
Batch = tuple[list[Frame], list[int]] | tuple[list[bytes], None]


class LiveCaptureError(Exception):
    """A capture that cannot start; ``str()`` is the one line for the user, ``exit_code`` for the CLI."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class CaptureStats:
    captured: int = 0  # frames taken from the kernel (each loopback packet once)
    kernel_received: int = 0  # frames that passed the filter, as the kernel counts them
    kernel_dropped: int = 0  # dropped by the kernel: the ring/buffer was full
    queue_dropped: int = 0  # dropped by mqttsniff: the consumer's queue and the backlog on disk were full
    backlogged: int = 0  # frames that waited on disk (the consumer fell behind; they came later, in order)
    backlog_peak: int = 0  # most frames that waited on disk at once
    written: int = 0  # frames in the -w file
    capture_cpu: float = 0.0  # CPU seconds spent by the capture thread (ring block copies, -w)


class LiveCapture:
    """Capture on one interface (or ``any``) with a kernel BPF filter; see the module docstring."""

    def __init__(
        self,
        iface: str,
        bpf_expr: str | None = DEFAULT_FILTER,
        snaplen: int = DEFAULT_SNAPLEN,
        promisc: bool = True,
        buffer_mb: float = 8,
        count: int = 0,
        duration: float | None = None,
        write_path: str | None = None,
        max_queued_frames: int = 200_000,
        max_queued_bytes: int = 256 << 20,
        max_backlog_bytes: int = MAX_BYTES,
        use_ring: bool = True,
        latency_ms: int = 10,
        ring: RingOptions | None = None,
    ) -> None:
        self.iface_name = iface
        self.bpf_expr = bpf_expr if bpf_expr is not None else DEFAULT_FILTER
        self.snaplen = snaplen if snaplen > 0 else DEFAULT_SNAPLEN  # -s 0 means "whole frames", as tcpdump
        self.promisc = promisc
        self.buffer_bytes = max(1 << 20, int(buffer_mb * (1 << 20)))
        self.count = count
        self.duration = duration
        self.write_path = write_path
        self.ring = ring  # -b: write_path names a series of files (sniffer.capture.ring)
        self.use_ring = use_ring
        self.latency_ms = latency_ms  # longest a packet waits in a partly filled ring block
        self.sock: PacketSocket | None = None
        self.writer: PcapngWriter | RingWriter | None = None
        self.secrets: Any = None  # key log lines for the -w file (sniffer.tls.keylog.KeyLogTail), or None
        self.error: str | None = None  # why the capture ended early (interface down, disk full)
        self._stats = CaptureStats()
        # batches on their way to the consumer: (frames, stamps: the kernel's integer nanoseconds), or
        # (ring blocks, None), cut into frames by get_batch()
        self._handoff = Handoff(max_queued_frames, max_queued_bytes, max_backlog_bytes)  # (guarded by _cond)
        self.last_stamps: list[int] = []  # integer ns of the frames get_batch() returned last
        self._linktype, self._cooked = 0, False
        self._epbs = BytesWriter()  # the -w file's next EPBs (the capture thread's, reused: see _write)
        self._cond = threading.Condition()
        # A plain flag, not an Event: request_stop() runs inside signal handlers, where taking a lock the
        # interrupted main thread may hold (Event.set) could deadlock.
        self._stopping = False
        self._done = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None

    # -- opening ------------------------------------------------------------------------------------

    @property
    def linktype(self) -> int:
        assert self.sock is not None, "open() first"
        return self.sock.linktype

    @property
    def mode(self) -> str:
        return self.sock.mode if self.sock else "closed"

    def program(self, arphrd: int, index: int) -> list[bpf.Insn]:
        """The kernel filter for this interface: the compiled expression adapted to how we read it."""
        if self.iface_name == "any":
            prog = bpf.cook(bpf.compile_filter(self.bpf_expr, bpf.DLT_LINUX_SLL, self.snaplen))
            return bpf.reject_outgoing(
                prog, lo_ifindex=lookup("lo").index if os.path.exists("/sys/class/net/lo") else 1
            )
        if arphrd == ARPHRD_NONE:
            return bpf.compile_filter(self.bpf_expr, bpf.DLT_RAW, self.snaplen)
        if arphrd in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
            prog = bpf.compile_filter(self.bpf_expr, bpf.DLT_EN10MB, self.snaplen)
            return bpf.reject_outgoing(prog) if arphrd == ARPHRD_LOOPBACK else prog
        # Other link types are read cooked, like libpcap does.
        return bpf.cook(bpf.compile_filter(self.bpf_expr, bpf.DLT_LINUX_SLL, self.snaplen))

    def open(self) -> None:
        """Find the interface, compile the filter, open the socket; LiveCaptureError on any fault."""
        try:
            iface = lookup(self.iface_name)
        except InterfaceError as exc:
            raise LiveCaptureError(f"mqttsniff: {exc}") from None
        if not iface.up:
            raise LiveCaptureError(
                f"mqttsniff: interface {iface.name} is down (bring it up: ip link set {iface.name} up)"
            )
        try:
            prog = self.program(iface.arphrd, iface.index)
        except bpf.FilterError as exc:
            raise LiveCaptureError(f"mqttsniff: {exc}") from None
        try:
            self.sock = PacketSocket(
                iface, prog, self.snaplen, self.promisc, self.buffer_bytes, self.use_ring, self.latency_ms
            )
        except PermissionError:
            raise LiveCaptureError(permission_message(iface.name), exit_code=2) from None
        except OSError as exc:
            if exc.errno in (errno.ENETDOWN, errno.ENODEV, errno.ENXIO):
                raise LiveCaptureError(f"mqttsniff: interface {iface.name}: {exc.strerror}") from None
            raise LiveCaptureError(f"mqttsniff: cannot capture on {iface.name}: {exc.strerror or exc}") from None

    def start(self) -> None:
        """Create the -w file (as whoever we are now) and start the capture thread."""
        if self.sock is None:
            self.open()
        assert self.sock is not None
        if self.write_path:
            try:
                head = header(self.sock.linktype, self.snaplen, self.iface_name, self.bpf_expr)
                if self.ring is not None:
                    self.writer = RingWriter(self.write_path, head, self.ring)
                else:
                    self.writer = PcapngWriter.with_header(self.write_path, head)
                self.writer.secrets = self.secrets
            except OSError as exc:
                self.sock.close()
                raise LiveCaptureError(f"mqttsniff: cannot write {self.write_path}: {exc.strerror or exc}") from None
        self._linktype, self._cooked = self.sock.linktype, self.sock.cooked  # how get_batch() cuts ring blocks
        self._wake_r, self._wake_w = os.pipe()
        _lower_switch_interval()
        self._thread = threading.Thread(target=self._run, name="mqttsniff-capture", daemon=True)
        self._thread.start()

    # -- the capture thread -------------------------------------------------------------------------

    def _run(self) -> None:
        sock = self.sock
        assert sock is not None
        stats = self._stats
        deadline = time.monotonic() + self.duration if self.duration else None
        next_stats = time.monotonic() + STATS_INTERVAL
        try:
            while not self._stopping:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                if now >= next_stats:
                    sock.update_stats()
                    self._publish_kernel_stats()
                    next_stats = now + STATS_INTERVAL
                wait_ms = 250 if deadline is None else max(1, min(250, int((deadline - now) * 1000) + 1))
                if self.writer is not None:
                    try:
                        self.writer.tick()  # -b duration/interval: a new file on time, packets or not
                    except OSError as exc:
                        self.error = self.writer.failure(exc)
                        break
                    switch = self.writer.until_switch()
                    if switch is not None:
                        wait_ms = max(1, min(wait_ms, int(switch * 1000) + 1))
                if not sock.wait(wait_ms, self._wake_r):
                    continue
                item, n = self._read(sock)
                if not n:
                    continue
                if self.writer is not None:
                    try:
                        self._write(self.writer, item)
                    except OSError as exc:
                        stats.captured += n
                        self._enqueue(item, n)
                        self.error = self.writer.failure(exc)
                        break
                    stats.written = self.writer.frames
                stats.captured += n
                self._enqueue(item, n)
                if self.count and stats.captured >= self.count:
                    break
        except InterfaceDown as exc:
            self.error = f"interface {self.iface_name} went down ({exc}): capture stopped"
        except Exception as exc:  # never die silently: the consumer reports it
            self.error = f"capture failed: {exc}"
        finally:
            self._stats.capture_cpu = time.thread_time()
            sock.update_stats()
            self._publish_kernel_stats()
            if self.writer is not None:
                self.writer.close()
                stats.written = self.writer.frames
            sock.close()
            _restore_switch_interval()
            with self._cond:
                self._done.set()
                self._cond.notify_all()

    def _publish_kernel_stats(self) -> None:
        assert self.sock is not None
        self._stats.kernel_received = self.sock.kernel_packets
        self._stats.kernel_dropped = self.sock.kernel_drops

    def _read(self, sock: PacketSocket) -> tuple[Batch, int]:
        """What the ring holds now, and how many frames. Whole ring blocks as they are, cut into frames by
        the consumer (get_batch): the capture thread shares the GIL with the dissector, and the fewer
        objects it makes per packet, the higher the rate before the kernel drops (bench/bench_knee.py).
        Frames with -c (the last batch is cut to the count) and without a ring (recvmsg)."""
        raw = None if self.count else sock.read_blocks()
        if raw is not None:
            return (raw, None), sum(blocks.frame_count(b) for b in raw)
        frames, stamps = sock.read()
        if self.count:
            left = self.count - self._stats.captured
            if len(frames) > left:
                del frames[left:], stamps[left:]
        return (frames, stamps), len(frames)

    def _write(self, writer: PcapngWriter | RingWriter, item: Batch) -> None:
        """One batch into the -w file(s); raises OSError (they keep every earlier batch)."""
        got: list[Any] = item[0]  # (frames, or ring blocks when stamps is None)
        stamps = item[1]
        if stamps is not None:
            writer.write(got, stamps)
            return
        w, cooked = self._epbs, self._cooked
        n = 0
        for blk in got:
            n += blocks.encode_block(w, blk, cooked, self.snaplen)
        # One write for the whole batch: each system call gives up the GIL, and taking it back from a busy
        # dissector can take a switch interval (5 ms), while the ring fills.
        blob = w.getvalue()
        w.truncate(0)
        writer.write_epbs(blob, n)

    def _enqueue(self, item: Batch, frames: int) -> None:
        got: list[Any] = item[0]
        size = sum(len(b) for b in got) if item[1] is None else sum(len(f[2]) for f in got)
        with self._cond:
            handoff = self._handoff
            if handoff.put(item, frames, size):
                self._cond.notify()
            stats, backlog = self._stats, handoff.backlog
            stats.queue_dropped, stats.backlogged, stats.backlog_peak = handoff.dropped, backlog.total, backlog.peak

    # -- the consumer's side ------------------------------------------------------------------------

    def get_batch(self, timeout: float | None = None) -> list[Frame] | None:
        """The next batch; [] if none arrived within ``timeout``; None once stopped and drained."""
        with self._cond:
            item = self._handoff.next(self._cond, self._done, timeout)
            self._stats.queue_dropped = self._handoff.dropped  # (a backlog that could not be read back)
        if not item:
            return item  # (None: stopped and drained; []: nothing yet)
        batch, stamps = item
        if stamps is None:  # ring blocks: cut into frames here, on the consumer's time (see _read)
            raw, batch, stamps = batch, [], []
            linktype, cooked = self._linktype, self._cooked
            for blk in raw:
                blocks.split_block(blk, linktype, cooked, self.snaplen, batch, stamps)
        self.last_stamps = stamps
        return batch

    def waiting(self) -> tuple[int, int]:
        """Frames captured and not taken by the consumer yet: (in memory, on disk)."""
        with self._cond:
            return self._handoff.waiting()

    def batches(self, poll: float = 0.5):
        """Yield batches as they arrive until the capture has stopped and everything queued was read."""
        while True:
            batch = self.get_batch(poll)
            if batch is None:
                return
            if batch:
                yield batch

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    def request_stop(self) -> None:
        """Ask the capture thread to stop, without waiting; safe in a signal handler (no locks taken).

        The thread closes the -w file and ends ``batches()`` once the queue is drained.
        """
        self._stopping = True
        fd = self._wake_w
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.write(fd, b"x")

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for it; frames already queued stay readable."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
        fds = (self._wake_r, self._wake_w)
        self._wake_r = self._wake_w = -1  # first, so a signal handler never writes to a closed (reused) fd
        for fd in fds:
            if fd >= 0:
                os.close(fd)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the capture stops by itself (count, duration, fault); True if it did."""
        return self._done.wait(timeout)

    @property
    def stats(self) -> CaptureStats:
        return dataclasses.replace(self._stats)  # a copy: the capture thread goes on counting

    def summary(self) -> str:
        """tcpdump's closing lines, plus our own queue drops."""
        s = self.stats
        lines = [
            f"{s.captured} packet{'s' if s.captured != 1 else ''} captured",
            f"{s.kernel_received} packet{'s' if s.kernel_received != 1 else ''} received by filter",
            f"{s.kernel_dropped} packet{'s' if s.kernel_dropped != 1 else ''} dropped by kernel",
            f"{s.queue_dropped} packet{'s' if s.queue_dropped != 1 else ''} dropped by mqttsniff (queue full)",
        ]
        if s.backlogged:  # a burst outran the dissector: say so (they were not dropped)
            lines.append(
                f"{s.backlogged} packet{'s' if s.backlogged != 1 else ''} waited on disk for the dissector "
                f"(at most {s.backlog_peak} at once)"
            )
        error = self._handoff.backlog.error
        if error:
            lines.append(f"the backlog on disk failed ({error}): its packets were dropped")
        with self._cond:
            left = self._handoff.pending
        if left:  # stopped before the dissector caught up (a second Ctrl-C, quitting the UI)
            lines.append(f"{left} packet{'s' if left != 1 else ''} captured but not dissected (stopped before)")
        if os.environ.get("MQTTSNIFF_BENCH") and s.captured:
            lines.append(f"capture thread: {s.capture_cpu / s.captured * 1e6:.2f} us CPU per packet")
        if self.writer is not None:
            lines.append(self.writer.written())
        elif self.write_path:
            lines.append(f"{s.written} packet{'s' if s.written != 1 else ''} written to {self.write_path}")
        return "\n".join(lines)
