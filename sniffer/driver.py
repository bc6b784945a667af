"""The one frame loop: source -> dissector -> sink, for the headless printers and the UI's loader alike.

`drive()` takes batches of records from a sniffer.source Source, numbers the frames (1, 2, ... in
the source's order, as tshark does), runs the dissector's frame() on each and hands the row it
returns (a Frame, or, from a SummaryDissector, the summary line itself) straight to the sink's
`row()`; after each batch the sink's `batch()` gets the batch's records and how many rows were made
(to write the lines it collected, flush, store, tell the UI). Per frame the loop makes nothing but
the row, and a row is handed on as it is made: a Frame that a printer renders is freed at once, not
kept for the batch (Frames kept alive by the thousand cost the garbage collector ~20 %). A sink that
wants every Frame (statistics) takes it in row(), under a dissector that makes Frames (a Dissector,
not a SummaryDissector); `Tee` hands each row and batch to several sinks.
A second pass (tshark's -2) is a second drive() over a new source with the sink of that pass.

If the source or the dissector raises in the middle of a batch, the sink still gets batch() for the
rows made before it (so a file's last good frames are printed before its error), then the error
propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TextIO

from sniffer.interfaces import describe
from sniffer.net.pcapfile import DIGITS, stamp_ns  # (here as the driver hands them on)
from sniffer.source import Source


class Sink(Protocol):
    row: Callable[[Any], object]  # each row as it is made (looked up once per batch)

    def batch(self, first: int, records: Sequence[Any], count: int) -> None:
        """After the rows of frames first .. first + count - 1, made from records[:count]; count is
        len(records) unless the batch was cut short by an error."""
        ...


class Dissecting(Protocol):
    def frame(
        self, number: int, ts: float, linktype: int, data: bytes, orig_len: int, ns: int | None = None, digits: int = 9
    ) -> Any: ...


def drive(
    source: Source, dissector: Dissecting, sink: Sink, first: int = 1, stop: Callable[[], bool] | None = None
) -> int:
    """Run every record of `source` through `dissector` into `sink`; returns the frames driven.

    `first` numbers the first frame (a loader resuming after stored rows); `stop()`, asked after each
    batch, ends the run early (a second Ctrl-C that should not wait for the backlog).
    """
    frame = dissector.frame
    done = sink.batch
    number = first - 1
    # merged sources (sniffer.capture.multi) put each record's source index 7th: the Frame learns its name
    names: list[str] | None = getattr(source, "interface_names", None)
    # records whose 5th and 6th items are the exact stamp (ticks, tsresol): a live capture, a file read
    # exactly (sniffer.source); a nanosecond stamp goes to the dissector beside the float. A merged capture
    # shows nine decimals for every frame, a remote's microseconds too: its -w file stores them in ns.
    exact = getattr(source, "exact_stamps", False)
    forced = getattr(source, "stamp_digits", -1)
    watch = getattr(dissector, "arp", None) if names is not None else None
    # a pcapng of one interface: the list of its name (records stay four items: every frame is interface 0)
    single: list[str] | None = getattr(source, "single_interface", None)
    descriptions: list[str] = getattr(source, "interface_descriptions", [])
    for batch in source.batches():
        start = number + 1
        put = sink.row
        if descriptions:  # (a batch is read whole, its interfaces' blocks with it, before its frames are made)
            describe(names or single or [], descriptions)
        if single is not None:
            put = _on_interface(put, single[0] if single else "")
        try:
            # (a live batch without the kernel's stamps has four items a record)
            if names is None and (not exact or batch and len(batch[0]) < 6):
                for rec in batch:
                    number += 1
                    put(frame(number, rec[0], rec[3], rec[1], rec[2]))
            elif names is None:
                for rec in batch:
                    number += 1
                    res = rec[5]
                    if res == 9:
                        put(frame(number, rec[0], rec[3], rec[1], rec[2], rec[4]))
                    else:
                        put(frame(number, rec[0], rec[3], rec[1], rec[2], stamp_ns(rec[4], res), DIGITS[res]))
            else:
                for rec in batch:
                    number += 1
                    if watch is not None:  # two gateways' LANs may reuse addresses: ARP's owners per source
                        watch.scope = rec[6]
                    if exact:
                        res = rec[5]
                        digits = forced if forced >= 0 else DIGITS[res]
                        row = frame(number, rec[0], rec[3], rec[1], rec[2], stamp_ns(rec[4], res), digits)
                    else:
                        row = frame(number, rec[0], rec[3], rec[1], rec[2])
                    if not isinstance(row, str):
                        ifid = rec[6]
                        row.iface = names[ifid] if ifid < len(names) else ""
                        row.ifid = ifid
                    put(row)
        finally:
            done(start, batch, number - start + 1)
        if stop is not None and stop():
            break
    return number - first + 1


def _on_interface(put: Callable[[Any], object], name: str) -> Callable[[Any], object]:
    """`put` for the frames of a one-interface pcapng: each Frame learns its interface (a summary line has none)."""

    def named(row: Any) -> object:
        if type(row) is not str:
            row.ifid = 0
            row.iface = name
        return put(row)

    return named


class LineSink:
    """Lines out, one write per batch: a SummaryDissector's rows are its lines; `render` makes the line
    of another dissector's row (the Printer's -T fields line of a Frame). `line_buffered` flushes each
    batch (standard input streams). `arrow_mark`: the lines hold it for "\u2192" (the summary's
    sniffer.output.summary.ARROW_MARK); the batch is encoded as ASCII-wide text and the arrow's bytes
    put in at the byte level."""

    def __init__(
        self,
        out: TextIO,
        render: Callable[[Any], str] | None = None,
        line_buffered: bool = False,
        arrow_mark: str = "",
    ) -> None:
        self.out = out
        self.line_buffered = line_buffered
        self.arrow_mark = arrow_mark
        self.lines: list[str] = []
        keep = self.lines.append
        if render is None:
            self.row: Callable[[Any], object] = keep  # the list's own append: no Python call per line
        else:
            self.row = lambda fr: keep(render(fr))

    def batch(self, first: int, records: Sequence[Any], count: int) -> None:
        lines = self.lines
        if lines:
            text = "\n".join(lines) + "\n"
            lines.clear()
            if self.arrow_mark:
                self._write_marked(text)
            else:
                self.out.write(text)
            if self.line_buffered:
                self.out.flush()

    def _write_marked(self, text: str) -> None:
        out, mark = self.out, self.arrow_mark
        buf = getattr(out, "buffer", None)
        enc, errors = getattr(out, "encoding", None) or "utf-8", getattr(out, "errors", None) or "strict"
        # the mark as one byte that no other character's bytes hold (UTF-8, ASCII and the like, not UTF-16)
        if buf is None or mark.encode(enc, errors) != mark.encode("ascii"):
            out.write(text.replace(mark, "\u2192"))
            return
        out.flush()  # what was written as text before (the -E header line) goes first
        buf.write(text.encode(enc, errors).replace(mark.encode(enc), "\u2192".encode(enc, errors)))

    def close(self) -> None:
        self.out.flush()


class PrinterSink:
    """Each Frame to a sniffer.output.printer.Printer's frame() (-V, -x, JSON, -Y; as it is when the
    sink is made); `flush` after every batch (a live capture: output leaves once per batch)."""

    def __init__(self, printer: Any, flush: bool = False) -> None:
        self.printer = printer
        self.row: Callable[[Any], object] = printer.frame
        self.flush = flush

    def batch(self, first: int, records: Sequence[Any], count: int) -> None:
        if self.flush:
            self.printer.flush()

    def close(self) -> None:
        self.printer.close()


class Tee:
    """Each row and each batch to several sinks in turn (a printer and -z statistics, say)."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def row(self, row: Any) -> None:
        for s in self.sinks:
            s.row(row)

    def batch(self, first: int, records: Sequence[Any], count: int) -> None:
        for s in self.sinks:
            s.batch(first, records, count)
