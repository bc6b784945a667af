"""Where raw frames come from: one source abstraction (file, standard input, live capture, memory).

Every source yields batches (lists) of records of one layout, the capture readers' own tuple:

    (ts, data, orig_len, linktype)                    a file read headlessly, a live capture, memory
    (ts, data, orig_len, linktype, ticks, tsresol)    a file read with exact=True (the UI)

`ticks, tsresol` are the timestamp exactly as the file has it (an integer count of 10^-n s, 2^-n s
with bit 7 of tsresol set; see CaptureReader.exact), so that saving writes what was read, never a
float's rounding. A record's frame number is its position in the source, counted by the driver
(sniffer.driver), as tshark numbers frames: no number is stored per record, so a file's records are
the reader's tuples as they come, with no object made per frame on the way (`Record` names the
fields for code and tests that build records by hand).

Sources never dissect and never touch a widget; sniffer.driver runs them through a dissector into a
sink. Lifecycle: start() (a live capture's thread), batches() until exhausted or stopped, stop().
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from itertools import islice
from typing import Any, NamedTuple, Protocol

BATCH = 2000  # records per batch from a file: large enough to amortise, small enough to stay responsive


class Record(NamedTuple):
    """One captured frame, the layout every source yields (as a plain tuple; see the module docstring)."""

    ts: float
    data: bytes
    orig_len: int
    linktype: int
    ticks: int = 0  # (with exact timestamps only)
    tsresol: int = 9


class Source(Protocol):
    name: str  # interface or file, for the status bar
    capture_filter: str  # the BPF expression, "" for files
    live: bool  # a live capture (quitting asks before losing unsaved frames)
    saved_to: str | None  # a -w file that already holds every frame, else None

    def start(self) -> None: ...
    def batches(self) -> Iterator[list[Any]]:
        """Lists of records until the source is exhausted or stopped."""
        ...

    def stop(self) -> None: ...
    def progress(self) -> float | None:
        """0..1 while a file loads; None when unknown (live, a pipe)."""
        ...

    def stats(self) -> tuple[int, int, int]:
        """(captured, kernel drops, mqttsniff drops) as the source counts them."""
        ...

    def truncated(self) -> bool:
        """The file was cut short in the middle of a record (the records before it were yielded)."""
        ...


class FileSource:
    """Frames of a pcap/pcapng file, or of standard input ("-"), in batches.

    Standard input is streamed: one record per batch, so each frame goes through as soon as the pipe
    delivers it (`tcpdump -U -w - | mqttsniff -r -`). A read error (a corrupt record) comes after the
    batch of the records read before it, so they are all shown first.
    """

    live = False
    capture_filter = ""
    saved_to = None

    def __init__(
        self,
        path: str,
        count: int | None = None,
        name: str | None = None,
        exact: bool | None = False,
        offsets: bool = False,
    ) -> None:
        from sniffer.net.pcapfile import open_capture  # raises CaptureError with a user message

        self.path = path
        self.name = name or os.path.basename(path)
        self.count = count
        self.reader = open_capture(path)
        # exact=None: exact stamps where the file's are not in microseconds (the headless outputs then show
        # nanoseconds, as tshark does); a microsecond file goes without them (they cost 7-15 % of a summary),
        # judged by its leading interface blocks (a later one finer than that is shown to the microsecond)
        if exact is None:
            exact = self.reader.fine_stamps()
            if exact and self.reader.format == "pcapng" and os.path.isfile(path):  # (a pipe is read once)
                from sniffer.net.pcapfile import leading_resolutions

                exact = any(res != 6 for res in leading_resolutions(path) or [9])
        self.exact = exact or offsets
        self.exact_stamps = self.exact  # records carry (ticks, tsresol) 5th and 6th (sniffer.driver)
        self.reader.exact = self.exact
        # offsets=True: records are (ts, data, orig_len, linktype, ticks, tsresol, interface id, file
        # offset of the data), the offset -1 where the file cannot be read again there (gzip, a pipe)
        self.offsets = offsets and self.reader.seekable
        self.batch_size = 1 if path == "-" else BATCH
        # a pcapng: the driver gives each frame its interface (tshark's "on interface eth0, id 0",
        # frame.interface_id/_name/_description) from these lists; with several interfaces (a capture merged
        # from several sources, mqttsniff -i gw1 -i gw2 -w) records carry the interface id 7th, with one they
        # stay four items (every frame is interface 0)
        if self.reader.format == "pcapng":
            from sniffer.net.pcapfile import leading_interfaces

            self.interface_descriptions = self.reader.if_descriptions
            # (reopening a pipe would take its data: a pipe's frames are all taken for its first interface's)
            if os.path.isfile(path) and len(leading_interfaces(path)) >= 2:
                self.interface_names = self.reader.if_names  # filled by the reader as it meets each IDB
            else:
                self.single_interface = self.reader.if_names
        self._stopped = False
        self._captured = 0
        try:
            self._size = os.path.getsize(path) if path != "-" else 0
        except OSError:
            self._size = 0
        self._done = False

    def start(self) -> None:
        pass

    def _records(self) -> Iterator[Any]:
        reader = self.reader
        if self.offsets:  # the UI's store: exact time, interface id and where the frame's bytes lie
            reader.width = 8
        elif hasattr(self, "interface_names"):  # (without exact time (0, 9): headless sinks read the first four)
            reader.width = 7
        elif self.exact:  # the reader sets ticks/tsresol before it yields each record
            reader.width = 6
        records: Iterator[Any] = iter(reader)
        return records if self.count is None else islice(records, self.count)

    def batches(self) -> Iterator[list[Any]]:
        records = self._records()
        size = self.batch_size
        try:
            while not self._stopped:
                batch: list[Any] = []
                try:
                    batch.extend(islice(records, size))  # what was read before an error stays in batch
                except Exception:
                    if batch:  # the frames before a corrupt record are shown before its error
                        self._captured += len(batch)
                        yield batch
                    raise
                if not batch:
                    return
                self._captured += len(batch)
                yield batch
                if len(batch) < size:
                    return
        finally:
            self._done = True
            self.reader.close()

    def stop(self) -> None:
        self._stopped = True

    def progress(self) -> float | None:
        if self._done:
            return 1.0
        if not self._size:
            return None
        pos = self.reader.position()
        return None if pos < 0 else min(pos / self._size, 1.0)

    def stats(self) -> tuple[int, int, int]:
        return self._captured, 0, 0

    def truncated(self) -> bool:
        return bool(self.reader.truncated)


class LiveSource:
    """A sniffer.capture LiveCapture, opened by sniffer.capture.setup (privileges already dropped).

    The capture thread hands (ts, linktype, data, orig_len); records are put in the readers' order.
    """

    live = True
    exact_stamps = True  # the kernel's ns (a batch without them has four items a record)

    def __init__(self, capture: Any, name: str | None = None, poll: float = 0.1) -> None:
        self.capture = capture
        self.name = name or capture.iface_name
        # its frames name their interface as tshark's live capture does ("on interface eth0, id 0"; the driver)
        self.single_interface = [capture.iface_name]
        self.capture_filter = capture.bpf_expr
        self.saved_to = getattr(capture, "write_path", None)
        self.poll = poll  # seconds between looks at a quiet capture

    def start(self) -> None:
        self.capture.start()

    def batches(self) -> Iterator[list[Any]]:
        cap = self.capture
        for batch in cap.batches(poll=self.poll):
            # with the kernel's integer nanoseconds, so a frame saved from the UI keeps its exact time
            stamps = getattr(cap, "last_stamps", None)
            if stamps is not None and len(stamps) == len(batch):
                yield [(f[0], f[2], f[3], f[1], ns, 9) for f, ns in zip(batch, stamps, strict=True)]
            else:
                yield [(ts, data, orig_len, lt) for ts, lt, data, orig_len in batch]

    def stop(self) -> None:
        self.capture.stop()

    def progress(self) -> float | None:
        return None

    def stats(self) -> tuple[int, int, int]:
        s = self.capture.stats
        return s.captured, s.kernel_dropped, s.queue_dropped

    def waiting(self) -> tuple[int, int]:
        """Frames captured and not dissected yet: (in memory, on disk: the dissector fell behind)."""
        return self.capture.waiting()

    def truncated(self) -> bool:
        return False


class MemorySource:
    """Records handed over by a test (or a replay): `push()` batches, `finish()` ends the source.

    With `live=True` it behaves like a capture for the UI (quit asks, status says capturing).
    """

    def __init__(
        self, records: list[Any] | None = None, name: str = "test", live: bool = False, capture_filter: str = ""
    ) -> None:
        self.name = name
        self.live = live
        self.capture_filter = capture_filter
        self.saved_to: str | None = None
        self._q: queue.Queue[list[Any] | None] = queue.Queue()
        self._captured = 0
        self._finished = False
        self.kernel_drops = 0
        if records:
            for i in range(0, len(records), BATCH):
                self._q.put(records[i : i + BATCH])
        if not live:
            self.finish()

    def push(self, records: list[Any]) -> None:
        self._q.put(list(records))

    def finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._q.put(None)

    def start(self) -> None:
        pass

    def batches(self) -> Iterator[list[Any]]:
        while True:
            batch = self._q.get()
            if batch is None:
                return
            self._captured += len(batch)
            yield batch

    def stop(self) -> None:
        self.finish()

    def progress(self) -> float | None:
        return None

    def stats(self) -> tuple[int, int, int]:
        return self._captured, self.kernel_drops, 0

    def truncated(self) -> bool:
        return False
