"""FilterError: a display filter the user must fix, with the span to underline.

Every problem the filter engine finds in an expression (syntax, unknown field,
type mismatch, bad regular expression) is raised as a FilterError; nothing else
escapes compile_filter(). `start`/`end` are 0-based character offsets into the
expression text (end exclusive), so a UI can underline text[start:end] and a
CLI can print column start + 1.
"""

from __future__ import annotations


class FilterError(ValueError):
    """An invalid display filter: `message` says what to change, (start, end) where."""

    def __init__(self, message: str, start: int, end: int | None = None) -> None:
        self.message = message
        self.start = max(0, start)
        self.end = max(self.start + 1, end if end is not None else start + 1)
        super().__init__(message)

    @property
    def column(self) -> int:
        """1-based column of the first offending character (as tshark's caret shows)."""
        return self.start + 1

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end

    def __str__(self) -> str:
        return f"at column {self.column}: {self.message}"

    def underline(self, text: str) -> str:
        """The expression with a caret line under the problem, like tshark prints it."""
        width = max(1, min(self.end, len(text) + 1) - self.start)
        return f"{text}\n{' ' * self.start}^{'~' * (width - 1)}"
