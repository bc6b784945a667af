"""Display-filter matchers for the UI: Wireshark's language when sniffer.filter is present.

A matcher decides whether stored row i is displayed. `needs_frame` says whether it needs the
dissected Frame (Wireshark expressions) or can look at the store's compact columns only (the
`tcp.stream == N` of "follow stream", and the plain-text match used before the display-filter
engine existed). Frame matchers get the fresh Frame while a batch is ingested and a Frame
rebuilt from the store when a new filter rescans what was already captured.
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


class TextMatcher:
    """Case-insensitive substring over Source, Destination, Protocol and Info."""

    needs_frame = False

    def __init__(self, text: str) -> None:
        self.text = text.lower()

    def __call__(self, store: Any, i: int, frame: Any = None) -> bool:
        t = self.text
        return t in store.info(i).lower() or t in store.src(i) or t in store.dst(i) or t in store.proto(i).lower()


class FrameMatcher:
    """A compiled Wireshark display filter (sniffer.filter) evaluated on the dissected Frame."""

    needs_frame = True

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled

    def __call__(self, store: Any, i: int, frame: Any = None) -> bool:
        if frame is None:
            frame = store.frame(i)
        try:
            return bool(self.compiled.matches(frame))
        except Exception:  # a filter bug must not take the capture down: the frame is simply not shown
            return False


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
        return FrameMatcher(engine.compile_filter(text))
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
