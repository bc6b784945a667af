"""Chooses how each frame is printed headlessly (summary, -V, -x, fields, json, ndjson).

`Printer.frame()` renders one `Frame` to text and buffers it; `flush()` writes.
Reading a file, the buffer is flushed in large batches (1M frames print fast);
live, `line_buffered=True` flushes after every frame so `| grep` sees lines at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from sniffer.malformed import cut_layer, is_cut
from sniffer.output.fields import FieldPrinter
from sniffer.output.json_out import JsonArrayWriter, json_record, ndjson_line
from sniffer.output.text import hex_sources, summary_line, tree_lines


class OutputOptions:
    """What the headless output prints. (A plain class: dataclasses costs every start-up ~8 ms of imports.)"""

    def __init__(
        self,
        fmt: str = "text",  # text | fields | json | ndjson
        fields: list[str] | None = None,
        verbose: bool = False,  # -V
        hex: bool = False,  # -x
        summary: bool = False,  # -P: the summary line too, before the tree or dumps
        only_protocols: set[str] | None = None,  # -O: protocols shown expanded with -V
        show_secrets: bool = False,
        separator: str = "\t",
        aggregator: str = ",",
        occurrence: str = "a",
        quote: str = "",
        header: bool = False,
    ) -> None:
        self.fmt = fmt
        self.fields: list[str] = [] if fields is None else fields
        self.verbose = verbose
        self.hex = hex
        self.summary = summary
        self.only_protocols = only_protocols
        self.show_secrets = show_secrets
        self.separator = separator
        self.aggregator = aggregator
        self.occurrence = occurrence
        self.quote = quote
        self.header = header


class Printer:
    def __init__(self, opts: OutputOptions, out: TextIO, line_buffered: bool = False) -> None:
        self.opts = opts
        self.out = out
        self.line_buffered = line_buffered
        self.buf: list[str] = []
        self.pending = 0
        self.fields: FieldPrinter | None = None
        self.json: JsonArrayWriter | None = None
        # One line per frame (summary or -T fields): `line` renders a Frame's line (None for
        # other formats); frame() is _frame_line, which buffers lines without their newline
        # and flush() joins them (no per-line concatenation).
        self.line: Callable[..., str] | None = None
        if opts.fmt == "fields":
            self.fields = FieldPrinter(
                opts.fields, opts.show_secrets, opts.separator, opts.aggregator, opts.occurrence, opts.quote
            )
            self.line = self.fields.line
            if opts.header:
                self.buf.append(self.fields.header())
        elif opts.fmt == "json":
            self.json = JsonArrayWriter(self.buf.append)
        elif opts.fmt == "text" and not opts.verbose and not opts.hex:
            self.line = summary_line
        if self.line is not None:
            self.frame = self._frame_line  # type: ignore[method-assign]

    def _frame_line(self, frame) -> None:
        buf = self.buf
        buf.append(self.line(frame))
        if self.line_buffered or len(buf) >= 2048:
            self.flush()

    def frame(self, frame) -> None:
        o = self.opts
        buf = self.buf
        if self.fields is not None:
            buf.append(self.fields.line(frame) + "\n")
        elif self.json is not None:
            self.json.add(json_record(frame, frame.tree(), o.show_secrets))
        elif o.fmt == "ndjson":
            buf.append(ndjson_line(frame, frame.tree(), o.show_secrets) + "\n")
        elif o.verbose or o.hex:
            nodes = frame.tree()
            lines: list[str] = []
            if o.summary:  # (-P, as tshark: the line, then the tree right after it or a blank line and the dumps)
                lines.append(summary_line(frame))
                if not o.verbose:
                    lines.append("")
            if o.verbose:
                collapse = None
                if o.only_protocols:
                    collapse = {n.fdef.protocol for n in nodes if n.fdef is not None} - o.only_protocols
                    if any(is_cut(n) and cut_layer(n) in o.only_protocols for n in nodes):
                        collapse.discard("_ws")  # "[Malformed Packet: MQTT]" says why with -O mqtt too
                lines.extend(tree_lines(nodes, o.show_secrets, collapse))
            if o.hex:
                if o.verbose:
                    lines.append("")  # (tshark -V -x: the tree, a blank line, the dumps, a blank line)
                lines.extend(hex_sources(frame, nodes, o.show_secrets))
            elif o.verbose:
                lines.append("")
            buf.append("\n".join(lines) + "\n")
        else:
            buf.append(summary_line(frame) + "\n")
        self.pending += 1
        if self.line_buffered or self.pending >= 2048:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            if self.line is not None:
                self.out.write("\n".join(self.buf) + "\n")
            else:
                self.out.write("".join(self.buf))
            self.buf.clear()
        self.pending = 0
        self.out.flush()

    def close(self) -> None:
        if self.json is not None:
            self.json.close()
        self.flush()
