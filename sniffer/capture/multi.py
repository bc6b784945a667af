"""Several capture sources (local interfaces, ssh:// remotes) merged into one timeline: one Source, one -w file.

Used whenever `-i` names a remote or more than one interface. Each member keeps its own capture thread
(LiveCapture) or reader thread (RemoteCapture); this source takes their batches in the consumer's
thread and hands them on ordered by time: a frame waits until this host's clock is WINDOW seconds past
its timestamp, then every frame released together is
merged by timestamp, so frames of two gateways come out in time order unless one link delivers later
than WINDOW (a batch that waited 2 x WINDOW goes whatever its timestamps say).

Merged records carry the member's index as a 7th item: (ts, data, orig_len, linktype, ticks,
tsresol, index); `interface_names[index]` is the frame's `frame.interface_name`. `-w` writes one
pcapng here, an Interface Description Block per member, as batches are handed on.
Set-up order (open_multi): URLs checked, local interfaces opened as root, root dropped once, then ssh
started as the user (so their keys, agent and ~/.ssh/config are used).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any

from sniffer.capture.live import DEFAULT_FILTER, LiveCapture, LiveCaptureError
from sniffer.capture.pcapng import MultiPcapngWriter, header_multi
from sniffer.capture.remote import EXIT_INTERRUPTED, RemoteCapture, RemoteError, is_remote, parse_url
from sniffer.capture.ring import RingWriter

WINDOW = 0.25  # seconds a batch waits for the other sources before it is merged and handed on
POLL = 0.01  # seconds between looks at quiet sources
TAKE_AT_ONCE = 16  # batches taken from a source per look once its frames wait on disk

_TS = itemgetter(0)


def wants_multi(args: argparse.Namespace) -> bool:
    """True when -i names a remote or several interfaces (the single local -i keeps its own path)."""
    names = getattr(args, "interfaces", None) or []
    return len(names) > 1 or any(is_remote(n) for n in names)


class MultiCapture:
    """The merged source (sniffer.source.Source) over members that are LiveCaptures or RemoteCaptures."""

    live = True
    exact_stamps = True  # records carry (ticks, tsresol) 5th and 6th (sniffer.driver)
    stamp_digits = 9  # every frame's Time with nine decimals, as the -w file (ns for all) reads back

    def __init__(
        self,
        members: list[Any],
        capture_filter: str,
        count: int = 0,
        duration: float | None = None,
        writer: MultiPcapngWriter | RingWriter | None = None,
    ) -> None:
        self.members = members
        self.interface_names = [m.iface_name for m in members]
        self.name = ", ".join(self.interface_names)
        self.capture_filter = capture_filter
        self.count = count
        self.duration = duration
        self.writer = writer
        self.saved_to = writer.path if writer is not None else None
        self.window = WINDOW if len(members) > 1 else 0.0
        self.error: str | None = None
        self.delivered = 0
        self.events: list[str] = []  # link events for the UI (its status bar shows the last one)
        self._notes: dict[int, str] = {}  # id(record) -> comment, for records still waiting to be written
        # per source whose frames wait on disk and were taken only in part: the time of the last record
        # taken (records after the smallest such time wait, so the merge stays in time order)
        self._held_back: dict[int, float] = {}
        self._stopping = False

    def start(self) -> None:
        for m in self.members:
            m.start()

    def request_stop(self) -> None:
        """Safe in a signal handler: each member's own request_stop (flags and wake-up bytes)."""
        self._stopping = True
        for m in self.members:
            m.request_stop()

    def _take(self, i: int, member: Any, pending: list[tuple[float, int, list[Any]]]) -> bool:
        """Move member i's queued batches into pending; False once it has ended and is drained. A few at
        a time from a member whose frames wait on disk (sniffer.capture.backlog): not the whole file."""
        self._held_back.pop(i, None)
        taken = 0
        while True:
            if taken >= TAKE_AT_ONCE and member.waiting()[1]:
                # its older frames are still on disk: nothing newer than what it gave may be merged yet
                self._held_back[i] = pending[-1][2][-1][0]
                return True
            taken += 1
            batch = member.get_batch(0)
            if batch is None:
                return False
            if not batch:
                return True
            if isinstance(member, LiveCapture):
                stamps = member.last_stamps
                recs = [(f[0], f[2], f[3], f[1], ns, 9, i) for f, ns in zip(batch, stamps, strict=False)]
            else:
                recs = batch  # a RemoteCapture's records carry their index already (no second tuple each)
                if member.last_note:  # the first frame after a reconnect carries the gap's note into the -w file
                    self._notes[id(recs[0])] = member.last_note
            pending.append((time.monotonic(), i, recs))

    def _release(self, pending: list[tuple[float, int, list[Any]]], final: bool) -> tuple[list[Any], list[Any]]:
        """(records to hand on now, in time order; what still waits). A record goes once this host's clock
        is WINDOW past its time (the other sources had that long to deliver older frames), or its batch
        has waited 2 x WINDOW (a source whose clock runs ahead: --align-clocks). One cutoff for all: a
        per-source correction by measured offsets (±0.5 ms of noise) put same-clock frames out of order."""
        if final or self.window == 0.0:
            parts = [recs for _, _, recs in pending]
            keep: list[Any] = []
        else:
            cutoff = time.time() - self.window
            stale = time.monotonic() - 2 * self.window
            parts, keep = [], []
            horizon = min(self._held_back.values(), default=None)
            if horizon is not None:
                cutoff = min(cutoff, horizon)
            for arrival, i, recs in pending:
                k = len(recs) if arrival <= stale else bisect_right(recs, cutoff, key=_TS)
                if horizon is not None:
                    k = min(k, bisect_right(recs, horizon, key=_TS))
                if k:
                    parts.append(recs if k == len(recs) else recs[:k])
                if k < len(recs):
                    keep.append((arrival, i, recs[k:]))
        if len(parts) == 1:
            return parts[0], keep
        return sorted((r for recs in parts for r in recs), key=_TS), keep

    def batches(self) -> Iterator[list[Any]]:
        members = list(enumerate(self.members))
        running = {i for i, _ in members}
        pending: list[tuple[float, int, list[Any]]] = []
        deadline = time.monotonic() + self.duration if self.duration else None
        while True:
            for i, m in members:
                if i in running and not self._take(i, m, pending):
                    running.discard(i)
            if deadline is not None and time.monotonic() >= deadline and not self._stopping:
                self.request_stop()
            out, pending = self._release(pending, final=not running)
            if self.writer is not None and self.writer.failed is None:
                try:
                    self.writer.tick()  # -b duration/interval: a new file on time, frames or not
                except OSError as exc:
                    self.error = self.writer.failure(exc)
                    self.request_stop()
            if out:
                if self.count:
                    out = out[: self.count - self.delivered]
                self._write(out)
                self.delivered += len(out)
                yield out
                if self.count and self.delivered >= self.count:
                    self.request_stop()
                    return
            elif not running and not pending:
                return
            else:
                time.sleep(POLL)

    def _write(self, records: list[Any]) -> None:
        if self.writer is None or self.writer.failed is not None:
            self._notes.clear()
            return
        comments = None
        if self._notes:
            comments = {k: self._notes.pop(id(r)) for k, r in enumerate(records) if id(r) in self._notes}
        try:
            self.writer.write_records(records, comments)
        except OSError as exc:
            self.error = self.writer.failure(exc)
            self.request_stop()

    def stop(self) -> None:
        self.request_stop()
        for m in self.members:
            m.stop()
        if self.writer is not None:
            self.writer.close()

    def progress(self) -> float | None:
        return None

    def stats(self) -> tuple[int, int, int]:
        captured = kernel = ours = 0
        for m in self.members:
            c, k, q = member_counts(m)
            captured, kernel, ours = captured + c, kernel + k, ours + q
        return captured, kernel, ours

    def truncated(self) -> bool:
        return False

    def status(self) -> str:
        """Per-source counts for the UI's status bar: name captured/dropped, a remote clock off by a
        millisecond or more (and whether --align-clocks applies it), any link not capturing."""
        parts = []
        for m in self.members:
            c, k, q = member_counts(m)
            state = getattr(m, "status", "capturing")
            offset = getattr(m, "offset", None)
            clock = ""
            if offset is not None and abs(offset) >= 0.001:
                clock = f" clock {offset * 1000:+.0f} ms" + (" aligned" if getattr(m, "align", False) else "")
            parts.append(
                f"{m.iface_name}: {c}"
                + (f" ({k + q} dropped)" if k + q else "")
                + clock
                + ("" if state == "capturing" else f" [{state}]")
            )
        text = "  ".join(parts)
        if self.events and any(getattr(m, "status", "capturing") != "capturing" for m in self.members):
            text += f"  {self.events[-1]}"  # why a link is down, while it is
        return text

    def waiting(self) -> tuple[int, int]:
        """Frames captured and not taken yet, over all sources: (in memory, on disk)."""
        counts = [m.waiting() for m in self.members]
        return sum(c[0] for c in counts), sum(c[1] for c in counts)

    def errors(self) -> list[str]:
        out = [self.error] if self.error else []
        out += [m.error for m in self.members if getattr(m, "error", None)]
        return out

    def summary(self) -> str:
        """At exit: one block per source (tcpdump's counts for local ones), then the -w file."""
        lines = []
        for m in self.members:
            if isinstance(m, LiveCapture):
                s = m.stats
                line = (
                    f"{m.iface_name}: {s.captured} packets captured, {s.kernel_dropped} dropped by kernel,"
                    f" {s.queue_dropped} dropped by mqttsniff"
                )
                if s.backlogged:
                    line += f", {s.backlogged} waited on disk for the dissector (at most {s.backlog_peak} at once)"
                left = sum(m.waiting())
                if left:  # stopped before the dissector caught up
                    line += f", {left} not dissected (stopped before)"
                lines.append(line)
            else:
                lines.append(m.summary())
        if self.writer is not None:
            lines.append(self.writer.written())
        return "\n".join(lines)


def member_counts(m: Any) -> tuple[int, int, int]:
    if isinstance(m, LiveCapture):
        s = m.stats
        return s.captured, s.kernel_dropped, s.queue_dropped
    return m.captured, m.kernel_dropped, m.queue_dropped


def open_multi(
    args: argparse.Namespace, ui: bool, stop: Any = None, warn: Callable[[str], None] | None = None
) -> MultiCapture:
    """Every -i of args opened (see the module docstring); LiveCaptureError or RemoteError with one line."""
    from sniffer.capture.setup import check_options, drop_after, keylog_tail, open_live

    opts = check_options(args)
    names: list[str] = args.interfaces
    targets = {n: parse_url(n) for n in names if is_remote(n)}  # every URL checked before anything opens
    seen = set()
    for n in names:
        key = targets[n].name if n in targets else n
        if key in seen:
            raise RemoteError(f"-i {n} given twice", 2)
        seen.add(key)
    bpf_expr = getattr(args, "capture_filter", None) or DEFAULT_FILTER
    members: list[Any] = []
    locals_: list[LiveCapture] = []
    try:
        for n in names:
            if n not in targets:
                one = argparse.Namespace(
                    **{**vars(args), "interface": n, "count": None, "autostop": None, "write": None, "ring": None}
                )
                cap = open_live(one, ui, None, drop=False)
                locals_.append(cap)
                members.append(cap)
            else:
                members.append(None)  # a remote: connected below, once root is dropped
        drop_after(args, ui, locals_)
        for k, n in enumerate(names):
            if n in targets:
                rc = RemoteCapture(
                    targets[n],
                    bpf_expr,
                    opts.snaplen,
                    sudo=getattr(args, "remote_sudo", None),
                    ssh_options=getattr(args, "ssh_options", None) or [],
                    align=bool(getattr(args, "align_clocks", False)),
                    on_event=warn,
                    buffer_mb=opts.buffer_mb or 8.0,
                )
                rc.quiet_reconnects = ui  # no prompt drawn over the UI: see ssh_argv
                rc.index = k
                members[k] = rc
                if stop is not None:
                    stop.attach(rc)  # a Ctrl-C while ssh connects (a prompt, a slow host) ends the wait
                rc.open()
    except (LiveCaptureError, RemoteError) as exc:
        if isinstance(exc, RemoteError) and exc.exit_code == EXIT_INTERRUPTED and stop is not None and stop.signum:
            exc.exit_code = 128 + stop.signum  # as a shell reports a job ended by that signal (130: SIGINT)
        for m in members:
            if m is not None:
                with contextlib.suppress(Exception):
                    m.stop() if isinstance(m, RemoteCapture) else (m.sock.close() if m.sock else None)
        raise
    writer: MultiPcapngWriter | RingWriter | None = None
    path = getattr(args, "write", None)
    if path:
        ifaces = [(m.linktype, opts.snaplen, m.iface_name, bpf_expr) for m in members]
        try:
            if opts.ring is not None:  # -b: a series of files, each with every source's header block
                writer = RingWriter(path, header_multi(ifaces), opts.ring)
            else:
                writer = MultiPcapngWriter(path, ifaces)
            writer.secrets = keylog_tail(args)  # the sessions' TLS keys go into the file(s)
        except OSError as exc:
            for m in members:
                with contextlib.suppress(Exception):
                    m.stop() if isinstance(m, RemoteCapture) else (m.sock.close() if m.sock else None)
            raise LiveCaptureError(f"mqttsniff: cannot write {path}: {exc.strerror or exc}") from None
    multi = MultiCapture(members, bpf_expr, getattr(args, "count", None) or 0, opts.duration, writer)
    if stop is not None:
        stop.attach(multi)
    return multi
