"""GTFS value parsers: times beyond 24 h, dates, coordinates, with reasons a human can act on."""

import datetime as dt

import pytest

from schedule_engine.gtfs_import.errors import FieldError
from schedule_engine.gtfs_import.fields import (
    format_time,
    parse_date,
    parse_latitude,
    parse_longitude,
    parse_time,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:00", 0),
        ("8:05:30", 29130),
        ("23:59:59", 86399),
        ("25:10:00", 90600),
        ("47:00:00", 169200),
    ],
)
def test_times_count_seconds_from_the_service_day_origin_and_may_exceed_24h(text, seconds):
    assert parse_time(text) == seconds
    assert parse_time(format_time(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("25:61:00", "minutes 61 out of range"),
        ("10:00:75", "seconds 75 out of range"),
        ("10:00", "expected HH:MM:SS"),
        ("ab:cd:ef", "expected HH:MM:SS"),
        ("-1:00:00", "expected"),
    ],
)
def test_bad_times_are_refused_with_the_reason(text, reason):
    with pytest.raises(FieldError, match=reason):
        parse_time(text)


def test_dates_are_yyyymmdd_and_must_exist():
    assert parse_date("20260216") == dt.date(2026, 2, 16)
    with pytest.raises(FieldError, match="expected YYYYMMDD"):
        parse_date("2026-02-16")
    with pytest.raises(FieldError, match="day is out of range"):
        parse_date("20260230")


def test_coordinates_must_be_numbers_in_range():
    assert parse_latitude("38.846073") == pytest.approx(38.846073)
    assert parse_longitude("-76.982918") == pytest.approx(-76.982918)
    with pytest.raises(FieldError, match=r"latitude .91\.5. out of range"):
        parse_latitude("91.5")
    with pytest.raises(FieldError, match="longitude '-181' out of range"):
        parse_longitude("-181")
    with pytest.raises(FieldError, match="invalid number"):
        parse_latitude("north")
    with pytest.raises(FieldError, match="invalid number"):
        parse_longitude("nan")
