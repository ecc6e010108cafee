"""What every report is asked for: a range of service dates and optional narrowing. Pure.

``ReportFilters`` is the one value type the reports' selectors take, and ``parse`` the
one reading of it from a query string (``?start=2026-12-01&end=2026-12-07&route_id=R1
&direction_id=0&stop_id=S1&hour=8``), used by the REST endpoints, the CSV and the pages
alike, so a shared URL means the same report everywhere.

Dates are service dates (GTFS ``start_date``/``service_date``, the agency's calendar),
``hour`` an hour of the day in the agency's time zone (0 to 23). ``start`` and ``end`` are
both included. Both dates are optional in the query: a missing ``end`` is ``start``,
a missing ``start`` is ``end``, and with neither the range is the ``today`` the
caller passes (its service day). A range is at most ``MAX_DAYS`` long, so no query
reads years of raw events (the daily summaries serve long ranges). ``parse`` raises
``FilterError``, a ``ValueError`` whose ``field`` names the query parameter at fault (a 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

MAX_DAYS = 366
MAX_ID_LENGTH = 255  # the width of the id columns (stop_id, route_id: CharField(255))

FIELDS = ("start", "end", "route_id", "direction_id", "stop_id", "hour")


class FilterError(ValueError):
    """A query parameter that cannot be a filter; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReportFilters:
    """Service dates ``start``..``end`` (both included) and the optional narrowing."""

    start: date
    end: date
    route_id: str | None = None
    direction_id: int | None = None
    stop_id: str | None = None
    hour: int | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise FilterError("end", "is before start")
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise FilterError("end", f"the range is longer than {MAX_DAYS} days")
        if self.direction_id not in (None, 0, 1):
            raise FilterError("direction_id", "must be 0 or 1")
        if self.hour is not None and not 0 <= self.hour <= 23:
            raise FilterError("hour", "must be between 0 and 23")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_query(self) -> dict[str, str]:
        """The query parameters that ``parse`` reads back into these filters (for links)."""
        query = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        for name in ("route_id", "direction_id", "stop_id", "hour"):
            value = getattr(self, name)
            if value is not None:
                query[name] = str(value)
        return query


def parse(query: Mapping[str, str], *, today: date | None = None) -> ReportFilters:
    """The filters a query string names (a ``QueryDict`` or any str mapping; with a
    ``QueryDict`` the last value of a repeated parameter counts). Empty values count as
    absent; with no date at all the range is ``today``, required then. Raises
    ``FilterError`` naming the field."""
    start = _date(query, "start")
    end = _date(query, "end")
    if start is None and end is None:
        if today is None:
            raise FilterError("start", "is required")
        start = end = today
    elif start is None:
        start = end
    elif end is None:
        end = start
    assert start is not None and end is not None
    return ReportFilters(
        start=start,
        end=end,
        route_id=_identifier(query, "route_id"),
        direction_id=_integer(query, "direction_id"),
        stop_id=_identifier(query, "stop_id"),
        hour=_integer(query, "hour"),
    )


def _text(query: Mapping[str, str], field: str) -> str | None:
    value = query.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FilterError(field, "must be text")
    value = value.strip()
    return value or None


def _date(query: Mapping[str, str], field: str) -> date | None:
    text = _text(query, field)
    if text is None:
        return None
    try:
        # fromisoformat also takes 20261201 and week dates; a report link says YYYY-MM-DD.
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise FilterError(field, "must be a date, YYYY-MM-DD") from None


def _integer(query: Mapping[str, str], field: str) -> int | None:
    text = _text(query, field)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 4:
        raise FilterError(field, "must be a whole number")
    return int(text)


def _identifier(query: Mapping[str, str], field: str) -> str | None:
    text = _text(query, field)
    if text is not None and (len(text) > MAX_ID_LENGTH or "\x00" in text):
        raise FilterError(field, f"must be at most {MAX_ID_LENGTH} characters, no NUL")
    return text
