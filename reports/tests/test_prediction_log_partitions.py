"""The prediction log's day partitions on the real PostgreSQL: created ahead, a sample
landing in its day's partition, expired days dropped whole (the cutoff day kept), a day
without a partition waiting in the DEFAULT one, and migration 0004 both ways.

The maintenance is run with a clock 100+ days ahead, so that its days are apart from the
days the migration made; the ``db`` tests' transaction takes their DDL back with it.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from realtime_engine.position_partitions import maintenance
from realtime_engine.position_partitions.plan import POSITIONS, day_partition, midnight, plan
from realtime_engine.tests.partition_days import TODAY, at, day
from reports.models import PREDICTION_LOG_PARTITIONS as LOG
from reports.models import PredictionLog
from reports.prediction_log.tasks import maintain_prediction_log_partitions, sample_prediction_log
from schedule_engine.feeds.builders import build_trip_updates
from schedule_engine.feeds.snapshots import (
    StopTimeUpdateSnapshot,
    TripEntity,
    TripRelationship,
    TripSnapshot,
    VehicleSnapshot,
)
from schedule_engine.feeds.store import FeedName, FeedSummary, StoredFeed, feed_save, payload_etag


def run(now: datetime, *, ahead_days: int = 3, retention_days: int = 7):
    return maintenance.maintain(
        now=now, ahead_days=ahead_days, retention_days=retention_days, table=LOG
    )


def names(table=LOG) -> set[str]:
    with connection.cursor() as cursor:
        return {p.name for p in maintenance.existing_partitions(cursor, table)}


def logged(*moments: datetime) -> None:
    for moment in moments:
        PredictionLog.objects.create(
            predicted_at=moment,
            trip_id="T1",
            start_date=moment.date(),
            stop_sequence=1,
            predicted_arrival=moment + timedelta(minutes=5),
            horizon_s=300,
        )


def homes() -> dict[datetime, str]:
    """Each stored row's predicted_at → the partition it sits in."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT predicted_at, tableoid::regclass::text FROM {LOG.name}")
        return dict(cursor.fetchall())


def publish(client, now: int) -> None:
    trip = TripEntity(
        "run-T1",
        TripSnapshot("T1", "R9", 1, "20261201", "12:30:00", TripRelationship.SCHEDULED),
        now - 5,
        VehicleSnapshot("bus-7"),
        (StopTimeUpdateSnapshot(5, "S5", now + 60, now + 60),),
    )
    payload = build_trip_updates([trip], now=now).SerializeToString()
    summary = FeedSummary(FeedName.TRIP_UPDATES, now, payload_etag(payload), 1, float(now), 0.01)
    assert feed_save(client, StoredFeed(summary, payload))


def test_the_plan_names_the_logs_days_after_its_table_and_keeps_the_positions_apart():
    now = datetime(2026, 12, 2, 13, tzinfo=UTC)
    todo = plan([], now=now, ahead_days=1, retention_days=7, table=LOG)
    assert [p.name for p in todo.create] == [
        "reports_predictionlog_p20261202",
        "reports_predictionlog_p20261203",
    ]
    assert plan([], now=now, ahead_days=0, retention_days=7).create == (
        day_partition(date(2026, 12, 2), POSITIONS),
    )
    assert LOG.default_partition == "reports_predictionlog_default"


@pytest.mark.django_db
def test_days_are_created_ahead_and_a_sample_lands_in_its_days_partition(redis_client):
    report = run(at(day(0), hour=1), ahead_days=3)
    expected = [day_partition(day(n), LOG).name for n in range(4)]
    assert report.created == expected
    assert expected[0] == f"reports_predictionlog_p{day(0):%Y%m%d}"
    assert set(expected) <= names()
    assert not {day_partition(day(n)).name for n in range(4)} & names(POSITIONS)
    published = int(at(day(2), hour=8).timestamp())
    publish(redis_client, published)
    assert sample_prediction_log.apply().get() == 1
    assert homes() == {at(day(2), hour=8): expected[2]}
    assert run(at(day(0), hour=2), ahead_days=3).created == []  # idempotent


@pytest.mark.django_db
def test_retention_drops_whole_days_before_the_cutoff_and_keeps_the_cutoff_day():
    run(at(day(0)), ahead_days=3)
    cutoff = midnight(day(2))  # 7 days before day 9's midnight
    logged(at(day(0)), cutoff - timedelta(microseconds=1), cutoff, cutoff + timedelta(hours=20))
    report = run(at(day(9)), ahead_days=0, retention_days=7)
    expired = {day_partition(day(0), LOG).name, day_partition(day(1), LOG).name}
    assert expired <= set(report.dropped)
    assert report.trimmed_rows == 0  # whole days went, no row was deleted
    assert not expired & names()
    assert {day_partition(day(2), LOG).name, day_partition(day(3), LOG).name} <= names()
    assert sorted(PredictionLog.objects.values_list("predicted_at", flat=True)) == [
        cutoff,
        cutoff + timedelta(hours=20),
    ]


@pytest.mark.django_db
def test_a_day_without_a_partition_waits_in_the_default_and_moves_to_its_day():
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    logged(at(day(40)), long_ago)
    assert set(homes().values()) == {LOG.default_partition}
    report = run(at(day(41)), ahead_days=0, retention_days=7)
    assert day_partition(day(40), LOG).name in report.created
    assert homes() == {at(day(40)): day_partition(day(40), LOG).name}
    assert report.trimmed_rows == 1  # 2001: past retention, deleted from the DEFAULT


@pytest.mark.django_db
@override_settings(PREDICTION_LOG_RETENTION_DAYS=2, PREDICTION_LOG_PARTITIONS_AHEAD_DAYS=5)
def test_the_beat_task_keeps_its_settings():
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    run(three_days_ago, ahead_days=0, retention_days=30)  # that day's partition
    logged(three_days_ago, datetime.now(UTC))
    result = maintain_prediction_log_partitions.apply().get()
    assert day_partition(three_days_ago.date(), LOG).name in result["dropped"]
    assert {day_partition(TODAY + timedelta(days=n), LOG).name for n in range(6)} <= names()
    assert PredictionLog.objects.count() == 1


@pytest.mark.django_db
def test_the_partitions_command_shows_and_maintains_the_log_with_table():
    out = io.StringIO()
    call_command("position_partitions", "--table", LOG.name, "status", stdout=out)
    assert f"{day_partition(TODAY, LOG).name} " in out.getvalue()  # made by the migration
    assert POSITIONS.name not in out.getvalue()
    with override_settings(PREDICTION_LOG_PARTITIONS_AHEAD_DAYS=6):
        call_command("position_partitions", "--table", LOG.name, "maintain", stdout=out)
    assert day_partition(TODAY + timedelta(days=6), LOG).name in names()
    assert day_partition(TODAY + timedelta(days=6)).name not in names(POSITIONS)


BEFORE = [("reports", "0003_prediction_accuracy_day")]
ROWS = f"""
SELECT id, predicted_at, trip_id, route_id, direction_id, start_date, stop_id, stop_sequence,
       vehicle_id, predicted_arrival, horizon_s
FROM {LOG.name} ORDER BY id
"""


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(ROWS)
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_migration_0004_partitions_a_populated_log_and_back_keeping_every_row():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LOG.name} (predicted_at, trip_id, route_id, start_date, stop_id, "
                "stop_sequence, vehicle_id, predicted_arrival, horizon_s) VALUES "
                "(now(), 'T1', 'R1', current_date, 'S1', 1, 'bus-1', now() + interval '1 min', 60),"
                "('2001-01-01', 'T2', '', '2001-01-01', '', 2, '', '2001-01-01 00:05', 300)"
            )
        before = rows()
        migrate(latest)
        assert rows() == before
        # Today's row in today's partition, 2001's in the DEFAULT (the next run trims it).
        assert sorted(homes().values()) == [LOG.default_partition, day_partition(TODAY, LOG).name]
        logged(datetime.now(UTC))  # the sequence continues after the copied ids
        assert max(r[0] for r in rows()) > max(r[0] for r in before)
        after = rows()
        migrate(BEFORE)
        assert rows() == after
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [LOG.name])
            assert cursor.fetchone()[0] == "r"  # a plain table again
    finally:
        migrate(latest)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {LOG.name}")
