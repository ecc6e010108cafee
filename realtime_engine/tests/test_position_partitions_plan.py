"""Which position-history partitions should exist and which go (pure: no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from realtime_engine.position_partitions.plan import (
    DEFAULT_PARTITION,
    LEGACY_PARTITION,
    Partition,
    day_partition,
    parse_bound,
    plan,
    retention_cutoff,
)

NOW = datetime(2026, 12, 2, 13, 30, tzinfo=UTC)
DEFAULT = Partition(DEFAULT_PARTITION)


def days(first: date, count: int) -> list[Partition]:
    return [day_partition(first + timedelta(days=n)) for n in range(count)]


def test_a_day_partition_is_named_after_its_utc_day_and_covers_it():
    p = day_partition(date(2026, 12, 2))
    assert p.name == "realtime_engine_positionrecord_p20261202"
    assert (p.lower, p.upper) == (
        datetime(2026, 12, 2, tzinfo=UTC),
        datetime(2026, 12, 3, tzinfo=UTC),
    )


def test_an_empty_table_gets_today_the_days_ahead_and_a_default():
    todo = plan([], now=NOW, ahead_days=3, retention_days=30)
    assert todo.create == tuple(days(date(2026, 12, 2), 4))
    assert todo.create_default
    assert (todo.drop, todo.trim) == ((), ())


def test_the_next_day_needs_only_the_new_last_day():
    existing = [DEFAULT, *days(date(2026, 12, 2), 4)]
    todo = plan(existing, now=NOW + timedelta(days=1), ahead_days=3, retention_days=30)
    assert todo.create == (day_partition(date(2026, 12, 6)),)
    assert not todo.create_default


def test_retention_drops_whole_days_before_the_midnight_cutoff_and_trims_the_default():
    existing = [DEFAULT, *days(date(2026, 11, 1), 35)]
    todo = plan(existing, now=NOW, ahead_days=3, retention_days=30)
    # 30 days before today's midnight: rows are kept between 30 and 31 days.
    assert todo.cutoff == retention_cutoff(NOW, 30) == datetime(2026, 11, 2, tzinfo=UTC)
    assert todo.drop == (day_partition(date(2026, 11, 1)),)
    assert todo.trim == (DEFAULT,)


def test_a_legacy_partition_is_trimmed_until_its_last_day_expires_then_dropped():
    legacy = Partition(LEGACY_PARTITION, None, datetime(2026, 12, 3, tzinfo=UTC))
    existing = [DEFAULT, legacy, *days(date(2026, 12, 3), 3)]
    kept = plan(existing, now=NOW, ahead_days=3, retention_days=30)
    assert day_partition(date(2026, 12, 2)) not in kept.create  # the legacy one holds it
    assert kept.trim == (DEFAULT, legacy) and kept.drop == ()
    expired = plan(existing, now=NOW + timedelta(days=31), ahead_days=3, retention_days=30)
    assert expired.drop == (legacy,)


def test_days_of_rows_in_the_default_within_retention_get_their_partition():
    todo = plan(
        [DEFAULT, *days(date(2026, 12, 2), 4)],
        now=NOW,
        ahead_days=3,
        retention_days=30,
        # a beat outage left 11-28; 2001 is past retention, 2030 beyond the days ahead
        default_days={date(2026, 11, 28), date(2001, 1, 1), date(2030, 1, 1)},
    )
    assert todo.create == (day_partition(date(2026, 11, 28)),)


@pytest.mark.parametrize(
    ("bound", "lower", "upper"),
    [
        (
            "FOR VALUES FROM ('2026-12-02 00:00:00+00') TO ('2026-12-03 00:00:00+00')",
            datetime(2026, 12, 2, tzinfo=UTC),
            datetime(2026, 12, 3, tzinfo=UTC),
        ),
        (
            "FOR VALUES FROM (MINVALUE) TO ('2026-12-03 01:00:00+01')",
            None,
            NOW.replace(day=3, hour=0, minute=0),
        ),
        ("DEFAULT", None, None),
    ],
)
def test_postgresqls_bound_text_reads_back(bound, lower, upper):
    p = parse_bound("p", bound)
    assert (p.lower, p.upper) == (lower, upper)
