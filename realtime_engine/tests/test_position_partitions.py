"""The position history's day partitions on the real PostgreSQL: created ahead, expired
days dropped whole, rows without a day kept in the DEFAULT partition, the primary key
refusing a replay, and the positions API's query reading only the days it asks for.

The maintenance is run with a clock 100+ days ahead, so that its days are apart from
whatever the test database holds (the days the migration made, a legacy partition);
the ``db`` tests' transaction takes their DDL back with it.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection

from realtime_engine.ingest.history import DatabaseTarget, HistoryWriter
from realtime_engine.models import PositionRecord
from realtime_engine.position_partitions import maintenance
from realtime_engine.position_partitions.maintenance import (
    detach,
    existing_partitions,
    maintain,
)
from realtime_engine.position_partitions.plan import (
    DEFAULT_PARTITION,
    TABLE,
    day_partition,
)
from realtime_engine.positions_api import position_history
from realtime_engine.tests.partition_days import TODAY, at, day
from runs.domain.telemetry.position import Position


def run(now: datetime, *, ahead_days: int = 3, retention_days: int = 30):
    return maintain(now=now, ahead_days=ahead_days, retention_days=retention_days)


def partition_names() -> set[str]:
    with connection.cursor() as cursor:
        return {p.name for p in existing_partitions(cursor)}


def store(*stamps: datetime, vehicle_id: str = "bus-1") -> None:
    PositionRecord.objects.bulk_create(
        PositionRecord(vehicle_id=vehicle_id, timestamp=t, latitude=1, longitude=2, received_at=t)
        for t in stamps
    )


def home(stamp: datetime) -> str:
    """The partition a stored row sits in."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT tableoid::regclass::text FROM {TABLE} WHERE "timestamp" = %s', [stamp]
        )
        return cursor.fetchone()[0]


def test_maintenance_creates_today_and_the_days_ahead_and_rows_land_in_them(db):
    report = run(at(day(0), hour=1), ahead_days=3)
    expected = [day_partition(day(n)).name for n in range(4)]
    assert report.created == expected
    assert set(expected) <= partition_names()
    store(at(day(2)))
    assert home(at(day(2))) == day_partition(day(2)).name
    assert run(at(day(0), hour=2), ahead_days=3).created == []  # idempotent


def test_retention_drops_the_expired_days_whole_and_keeps_the_others(db):
    run(at(day(0)), ahead_days=3)
    store(at(day(0)), at(day(1)), at(day(2)), at(day(3)))
    report = run(at(day(32)), ahead_days=0, retention_days=30)  # cutoff: midnight of day 2
    expired = {day_partition(day(0)).name, day_partition(day(1)).name}
    assert expired <= set(report.dropped)
    names = partition_names()
    assert not expired & names
    assert {day_partition(day(2)).name, day_partition(day(3)).name} <= names
    stored = sorted(PositionRecord.objects.values_list("timestamp", flat=True))
    assert stored == [at(day(2)), at(day(3))]


def test_rows_of_a_day_without_a_partition_wait_in_the_default_and_move_to_their_day(db):
    past_retention = datetime(2001, 1, 1, tzinfo=UTC)
    store(at(day(40)), past_retention)  # no partition for either
    assert home(at(day(40))) == home(past_retention) == DEFAULT_PARTITION
    report = run(at(day(41)), ahead_days=0, retention_days=30)
    assert day_partition(day(40)).name in report.created
    assert home(at(day(40))) == day_partition(day(40)).name
    assert report.trimmed_rows == 1
    assert list(PositionRecord.objects.values_list("timestamp", flat=True)) == [at(day(40))]


def test_the_positions_query_reads_only_the_partitions_its_window_overlaps(db):
    run(at(day(0)), ahead_days=4)
    plan_text = position_history(
        vehicle_id="bus-1", since=at(day(1), hour=20), until=at(day(2), hour=3)
    ).explain()
    scanned = set(re.findall(r" on (\w+)", plan_text))  # "Index Scan … on <partition>"
    assert scanned == {day_partition(day(1)).name, day_partition(day(2)).name}, plan_text


@pytest.fixture
def writer(transactional_db):
    history = HistoryWriter(DatabaseTarget.from_django())
    yield history
    history.close()


def test_a_replayed_position_inserts_nothing_whichever_partition_it_lands_in(writer):
    now = datetime.now(UTC).timestamp()
    batch = [
        Position("bus-1", 38.9, -77.0, timestamp=int(now) - 5, received_at=now),
        # a clock years behind: no day partition, the DEFAULT one takes it
        Position("bus-1", 38.9, -77.0, timestamp=978_307_200, received_at=now),
    ]
    writer.write(batch)
    writer.write(batch)
    writer.write([*batch, *batch])
    assert PositionRecord.objects.count() == 2


def test_the_status_command_flags_a_missing_today_until_maintain_creates_it(db):
    today = day_partition(TODAY)
    with connection.cursor() as cursor:
        if today.name not in partition_names():
            pytest.skip("this test database's legacy partition covers today")
        detach(cursor, today)  # as if a run had stopped before dropping it
    with pytest.raises(CommandError, match=f"missing {today.name}"):
        call_command("position_partitions", "status", stdout=io.StringIO())
    out = io.StringIO()
    call_command("position_partitions", "maintain", stdout=out)
    assert out.getvalue().count(today.name) == 2  # created, and the leftover dropped
    call_command("position_partitions", "status", stdout=out)
    assert f"{today.name} " in out.getvalue()


def test_ddl_that_cannot_have_its_lock_soon_fails_rather_than_queue_the_ingest(db, monkeypatch):
    monkeypatch.setattr(maintenance, "LOCK_TIMEOUT", "200ms")
    t = DatabaseTarget.from_django()
    with psycopg.connect(host=t.host, port=t.port, dbname=t.dbname, user=t.user) as reader:
        reader.execute(f"SELECT count(*) FROM {TABLE}")  # a long report, its transaction open
        with pytest.raises(OperationalError, match="lock timeout"):
            run(at(day(40)), ahead_days=0)
