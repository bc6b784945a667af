"""Display-filter matchers for the UI: Wireshark's language when sniffer.filter is present.

A matcher decides whether stored row i is displayed. `needs_frame` says whether a rescan must
hand it Frames rebuilt from the store; none of these does: the `tcp.stream == N` of "follow
stream" and the plain-text match read the store's columns, and Wireshark expressions are
compiled against the store's rows (sniffer.filter.rows), rebuilding a Frame only for the rows
and fields that need one. Frame matchers also get the fresh Frame while a batch is ingested.
"""

from __future__ import annotations

import re
from typing import Any

_STREAM_RE = re.compile(r"^\s*tcp\.stream\s*(?:==|eq)\s*(\d+)\s*$")


class FilterProblem(Exception):
    """An expression that does not compile: message and the [start, end) columns of the problem."""

    def __init__(self, message: str, start: int = 0, end: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end


class StreamMatcher:
    needs_frame = False

    def __init__(self, stream: int) -> None:
        self.stream = stream

    def __call__(self, store: Any, i: int, frame: Any = None) -> bool:
        return store.stream(i) == self.stream

    def scan(self, store: Any, start: int, end: int) -> list[int]:
        col, s = store.column("stream"), self.stream
        return [i for i in range(start, end) if col[i] == s]


class TextMatcher:
    """Case-insensitive substring over Source, Destination, Protocol and Info."""

    needs_frame = False

    def __init__(self, text: str) -> None:
        self.text = text.lower()

    def __call__(self, store: Any, i: int, frame: Any = None) -> bool:
        t = self.text
        return t in store.info(i).lower() or t in store.src(i) or t in store.dst(i) or t in store.proto(i).lower()


class FrameMatcher:
    """A compiled Wireshark display filter (sniffer.filter): on the fresh Frame while a batch is
    ingested, and on the store's rows (columns first, a Frame rebuilt from the spill only where a
    field needs it) when a new filter rescans what was already captured."""

    needs_frame = False  # a rescan goes through the row predicate, not rebuilt Frames

    def __init__(self, compiled: Any, engine: Any = None) -> None:
        self.compiled = compiled
        self.engine = engine
        self._store: Any = None
        self._rows: Any = None  # the filter compiled against self._store's rows

    def _row_pred(self, store: Any) -> Any:
        if store is not self._store:
            rows = None
            if self.engine is not None and hasattr(store, "frame_reader"):
                try:
                    rows = self.engine.compile_filter(self.compiled.text, store).matches
                except Exception:  # an engine without row support: rebuild each Frame
                    rows = None
            if rows is None:
                compiled = self.compiled
                rows = lambda i: compiled.matches(store.frame(i))  # noqa: E731
            self._store, self._rows = store, rows
        return self._rows

    def __call__(self, store: Any, i: int, frame: Any = None) -> bool:
        try:
            if frame is None:
                return bool(self._row_pred(store)(i))
            return bool(self.compiled.matches(frame))
        except Exception:  # a filter bug must not take the capture down: the frame is simply not shown
            return False

    def scan(self, store: Any, start: int, end: int) -> list[int]:
        """The matching rows of [start, end): one tight loop (a rescan's cost is per row)."""
        pred = self._row_pred(store)
        try:
            return [i for i in range(start, end) if pred(i)]
        except Exception:  # a row the filter trips on: test the rest one by one, that row not shown
            return [i for i in range(start, end) if self(store, i)]


def _engine():
    try:
        from sniffer import filter as engine  # noqa: A004 -- the display-filter package
    except ImportError:
        return None
    if not hasattr(engine, "compile_filter"):
        return None
    return engine


def have_engine() -> bool:
    return _engine() is not None


def compile_matcher(text: str):
    """None for an empty filter, else a matcher; raises FilterProblem for an invalid expression."""
    if not text.strip():
        return None
    m = _STREAM_RE.match(text)
    if m:
        return StreamMatcher(int(m.group(1)))
    engine = _engine()
    if engine is None:
        return TextMatcher(text.strip())
    try:
        return FrameMatcher(engine.compile_filter(text), engine)
    except Exception as e:  # FilterError carries the column span of the problem
        span = getattr(e, "span", None)
        start = getattr(e, "start", None)
        end = getattr(e, "end", None)
        if span is not None and start is None:
            start, end = span
        msg = getattr(e, "message", None) or str(e)
        raise FilterProblem(msg, start or 0, end if end is not None else len(text)) from None


def completions(prefix: str) -> list[str]:
    """Field names that start with the last word of `prefix` (empty without the filter engine)."""
    engine = _engine()
    if engine is None or not hasattr(engine, "field_completions"):
        return []
    try:
        return [c if isinstance(c, str) else c[0] for c in engine.field_completions(prefix)]
    except Exception:
        return []
