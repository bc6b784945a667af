"""The one frame loop: source -> dissector -> sink, for the headless printers and the UI's loader alike.

`drive()` takes batches of records from a sniffer.source Source, numbers the frames (1, 2, ... in
the source's order, as tshark does), runs the dissector's frame() on each and hands the sink each
batch at once: the records, and the rows frame() returned for them (Frames, or, from a
SummaryDissector, the summary lines themselves). Per frame the loop makes nothing but the row:
batches are the sink's unit, so a sink that writes lines joins them once per batch, and a sink that
wants every Frame (statistics, the packet store) iterates them. `Tee` hands one batch to several
sinks. A second pass (tshark's -2) is a second drive() over a new source with the sink of that pass.

If the source or the dissector raises in the middle of a batch, the rows made before it still go to
the sink (so a file's last good frames are printed before its error), then the error propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TextIO

from sniffer.source import Source


class Sink(Protocol):
    def batch(self, first: int, records: Sequence[Any], rows: list[Any]) -> None:
        """rows[k] is frame(first + k, records[k]); rows may be shorter than records after an error."""
        ...


class Dissecting(Protocol):
    def frame(self, number: int, ts: float, linktype: int, data: bytes, orig_len: int) -> Any: ...


def drive(
    source: Source, dissector: Dissecting, sink: Sink, first: int = 1, stop: Callable[[], bool] | None = None
) -> int:
    """Run every record of `source` through `dissector` into `sink`; returns the frames driven.

    `first` numbers the first frame (a loader resuming after stored rows); `stop()`, asked after each
    batch, ends the run early (a second Ctrl-C that should not wait for the backlog).
    """
    frame = dissector.frame
    put = sink.batch
    number = first - 1
    for batch in source.batches():
        start = number + 1
        rows: list[Any] = []
        append = rows.append
        try:
            for rec in batch:
                number += 1
                append(frame(number, rec[0], rec[3], rec[1], rec[2]))
        finally:
            put(start, batch, rows)
        if stop is not None and stop():
            break
    return number - first + 1


class LineSink:
    """Lines out, one write per batch: a SummaryDissector's rows are its lines; `render` makes a line of
    another dissector's row (the Printer's -T fields line of a Frame). `line_buffered` flushes each
    batch (standard input and live captures stream)."""

    def __init__(self, out: TextIO, render: Callable[[Any], str] | None = None, line_buffered: bool = False) -> None:
        self.out = out
        self.render = render
        self.line_buffered = line_buffered

    def batch(self, first: int, records: Sequence[Any], rows: list[Any]) -> None:
        if not rows:
            return
        lines = rows if self.render is None else map(self.render, rows)
        self.out.write("\n".join(lines) + "\n")
        if self.line_buffered:
            self.out.flush()

    def close(self) -> None:
        self.out.flush()


class PrinterSink:
    """Each Frame to a sniffer.output.printer.Printer (-V, -x, JSON, -Y); `flush` after every batch
    (a live capture: output leaves once per batch, not once per line)."""

    def __init__(self, printer: Any, flush: bool = False) -> None:
        self.printer = printer
        self.flush = flush

    def batch(self, first: int, records: Sequence[Any], rows: list[Any]) -> None:
        show = self.printer.frame
        for fr in rows:
            show(fr)
        if self.flush:
            self.printer.flush()

    def close(self) -> None:
        self.printer.close()


class Tee:
    """One batch to several sinks in turn (a printer and -z statistics, say)."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def batch(self, first: int, records: Sequence[Any], rows: list[Any]) -> None:
        for s in self.sinks:
            s.batch(first, records, rows)
