"""Problems found in a feed: errors abort the import, warnings are reported and tolerated."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """Where a problem is (file, line of the CSV record, column) and what it is."""

    file: str
    line: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        column = f" column {self.column}:" if self.column else ""
        return f"{where}:{column} {self.reason}"


class FieldError(ValueError):
    """A value that does not parse; the caller adds file, line and column."""


class FeedInvalid(Exception):
    """The feed has errors; nothing of it was stored."""

    def __init__(self, problems: list[FeedProblem]):
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))
