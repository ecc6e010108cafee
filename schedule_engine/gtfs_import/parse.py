"""Typing a feed's CSV records: the value of a column, parsed, or a problem where it is.

`FieldReader` reads one value of a `Record` (from `source`) through a parser of
`fields`: a required value that is empty or malformed is an error, a malformed optional
one a warning (or an error when ``strict``). `FieldReader.column` is the same for the
large files, memoizing the values it has seen. `ParsedStopTime` is one typed record of
stop_times.txt. Pure: imports only the standard library and this package's pure modules.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schedule_engine.gtfs_import.errors import FieldError, Problems
from schedule_engine.gtfs_import.source import Record, Table

# Distinct values a column reader remembers (times of day, sequences, flags repeat a lot).
READER_MEMO_MAX = 200_000


@dataclass(slots=True)
class ParsedStopTime:
    sequence: int
    line: int
    stop_id: str
    arrival: int | None
    departure: int | None
    headsign: str
    pickup: int
    drop_off: int
    timepoint: int | None
    shape_dist: float | None


def parse_timezone(text: str) -> str:
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise FieldError(f"unknown time zone {text!r}") from None
    return text


class FieldReader:
    """Parses column values, reporting each problem to ``problems`` with its place."""

    def __init__(self, problems: Problems):
        self.problems = problems

    def required(self, table: Table, record: Record, column: str, parser=None):
        """A required value, parsed; an error (and None) when empty or malformed."""
        text = record[column]
        if not text:
            self.problems.error(table.name, record.line, column, "required value is empty")
            return None
        if parser is None:
            return text
        try:
            return parser(text)
        except FieldError as problem:
            self.problems.error(table.name, record.line, column, str(problem))
            return None

    def optional(
        self, table: Table, record: Record, column: str, parser, default=None, *, strict=False
    ):
        """An optional value. A malformed one is dropped with a warning, or, when ``strict``
        (times, coordinates: present means it must be valid), reported as an error."""
        text = record[column]
        if not text:
            return default
        try:
            return parser(text)
        except FieldError as problem:
            if strict:
                self.problems.error(table.name, record.line, column, str(problem))
            else:
                self.problems.warn(table.name, record.line, column, f"{problem} (ignored)")
            return default

    def strict_optional(self, table: Table, record: Record, column: str, parser, default=None):
        """An optional value that, when present, must be valid (times, coordinates)."""
        return self.optional(table, record, column, parser, default, strict=True)

    def column(
        self,
        table: Table,
        column: str,
        parser,
        *,
        strict: bool = False,
        required: bool = False,
        default=None,
    ) -> Callable[[Record], Any]:
        """A parser of one column for a large file, memoizing the values it has seen.

        A malformed value is an error when ``strict``, else a warning that drops it; it
        reads as ``default``. An empty one is an error when ``required``.
        """
        index, name = table.index(column), table.name
        error = self.problems.error
        report = error if strict else self.problems.warn
        suffix = "" if strict else " (ignored)"
        seen: dict[str, Any] = {}

        def read(record: Record):
            text = record.values[index].strip()
            value = seen.get(text, seen)
            if value is not seen:
                return value
            if not text:
                if required:
                    error(name, record.line, column, "required value is empty")
                    return None
                value = default
            else:
                try:
                    value = parser(text)
                except FieldError as problem:
                    report(name, record.line, column, f"{problem}{suffix}")
                    return default
            if len(seen) < READER_MEMO_MAX:
                seen[text] = value
            return value

        return read
