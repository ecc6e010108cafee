"""The report filters read from a query string: every report's (and the accuracy
report's) one reading of ``?start=…&end=…&route_id=…``, errors naming the parameter."""

from __future__ import annotations

from datetime import date

import pytest
from django.http import QueryDict

from reports.filters import FilterError, ReportFilters, parse

TODAY = date(2026, 12, 2)


def test_a_full_query_reads_into_filters_and_back():
    query = QueryDict(
        "start=2026-11-01&end=2026-11-30&route_id=R1&direction_id=1&stop_id=S 9&hour=7"
    )
    filters = parse(query, today=TODAY)
    assert filters == ReportFilters(date(2026, 11, 1), date(2026, 11, 30), "R1", 1, "S 9", 7)
    assert parse(filters.as_query()) == filters
    assert filters.days == 30


def test_missing_dates_make_a_one_day_range():
    assert parse({}, today=TODAY) == ReportFilters(TODAY, TODAY)
    assert parse({"start": "2026-11-05"}).end == date(2026, 11, 5)
    assert parse({"end": "2026-11-05"}).start == date(2026, 11, 5)
    assert parse({"start": "", "route_id": "  "}, today=TODAY) == ReportFilters(TODAY, TODAY)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "start"),  # no date and no today
        ({"start": "2026-13-01"}, "start"),
        ({"start": "20261201"}, "start"),
        ({"start": "2026-12-01", "end": "yesterday"}, "end"),
        ({"start": "2026-12-02", "end": "2026-12-01"}, "end"),
        ({"start": "2024-01-01", "end": "2026-12-01"}, "end"),  # longer than 366 days
        ({"start": "2026-12-01", "direction_id": "2"}, "direction_id"),
        ({"start": "2026-12-01", "direction_id": "-1"}, "direction_id"),
        ({"start": "2026-12-01", "hour": "24"}, "hour"),
        ({"start": "2026-12-01", "hour": "7.5"}, "hour"),
        ({"start": "2026-12-01", "hour": "\u0661"}, "hour"),  # a non-ASCII digit
        ({"start": "2026-12-01", "route_id": "R" * 256}, "route_id"),
        ({"start": "2026-12-01", "stop_id": "S\x00"}, "stop_id"),
    ],
)
def test_a_bad_value_names_its_field(query, field):
    with pytest.raises(FilterError) as raised:
        parse(query)
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)
