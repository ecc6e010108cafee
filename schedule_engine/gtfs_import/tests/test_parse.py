"""Typing a record's columns: the parsed value, or a problem at its file, line and column."""

import pytest

from schedule_engine.gtfs_import.errors import FieldError, Problems
from schedule_engine.gtfs_import.fields import parse_time
from schedule_engine.gtfs_import.parse import FieldReader, parse_timezone
from schedule_engine.gtfs_import.source import FeedSource


@pytest.fixture
def stop_times(tmp_path):
    (tmp_path / "stop_times.txt").write_text(
        "trip_id,arrival_time,timepoint\nT,08:00:00,1\nT,8h,x\nT,,\nT,08:00:00,1\n"
    )
    with FeedSource(tmp_path).table("stop_times.txt") as table:
        yield table, list(table)


def test_a_column_reader_reports_errors_or_warnings_where_they_are(stop_times):
    table, records = stop_times
    problems = Problems()
    reader = FieldReader(problems)
    arrival_of = reader.column(table, "arrival_time", parse_time, strict=True, required=True)
    timepoint_of = reader.column(table, "timepoint", int, default=0)

    assert [arrival_of(r) for r in records] == [28800, None, None, 28800]
    assert [str(p) for p in problems.errors] == [
        "stop_times.txt:3: column arrival_time: invalid time '8h', expected HH:MM:SS",
        "stop_times.txt:4: column arrival_time: required value is empty",
    ]
    with pytest.raises(ValueError):
        [timepoint_of(r) for r in records]  # a parser raising other than FieldError escapes


def test_an_optional_value_that_does_not_parse_is_a_warning_and_dropped(stop_times):
    table, records = stop_times
    problems = Problems()
    value = FieldReader(problems).optional(table, records[1], "arrival_time", parse_time, 0)
    assert value == 0 and problems.errors == []
    assert [p.reason for p in problems.warnings] == [
        "invalid time '8h', expected HH:MM:SS (ignored)"
    ]


def test_time_zones_must_be_known():
    assert parse_timezone("America/New_York") == "America/New_York"
    with pytest.raises(FieldError, match="unknown time zone 'Mars/Olympus'"):
        parse_timezone("Mars/Olympus")
