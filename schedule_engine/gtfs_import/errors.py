"""Problems found in a feed: errors abort the import, warnings are reported and tolerated."""

from __future__ import annotations

from dataclasses import dataclass

# Errors kept per feed: past these, more of the same add nothing a human can act on.
MAX_ERRORS = 50


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


class Problems:
    """The errors and warnings of one feed, with where each is (file, line, column)."""

    def __init__(self) -> None:
        self.errors: list[FeedProblem] = []
        self.warnings: list[FeedProblem] = []

    def error(self, file: str, line: int | None, column: str | None, reason: str) -> None:
        self.add_error(FeedProblem(file, line, column, reason))

    def add_error(self, problem: FeedProblem) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(problem)

    def warn(self, file: str, line: int | None, column: str | None, reason: str) -> None:
        self.warnings.append(FeedProblem(file, line, column, reason))

    def raise_if_errors(self) -> None:
        if self.errors:
            raise FeedInvalid(self.errors)
