"""`make bench-prediction-log`: the cost of sampling TripUpdates into the prediction log.

A scratch database (``<name>_bench_prediction_log``, dropped at the end) migrated for the
reports app. For each feed size (``--runs``, default 2,000 and 6,000 published runs, each
with ``--stops`` stop time updates a minute apart, all within the log's horizon), the
feed is built by the pipeline's builders and then sampled ``--rounds`` times, each time
under a new header timestamp (a new sample), through the task's own two steps:

- **parse**: ``reports.prediction_log.sample.sample_of`` over the feed's bytes;
- **store**: ``reports.prediction_log.storage.sample_store`` (the duplicate check and one
  binary COPY, committed).

Printed: ms per sample for each step (median of the rounds), rows/s of the whole sample,
then bytes per row (``pg_total_relation_size`` after VACUUM: heap, both indexes, TOAST)
and what a day at ``PREDICTION_LOG_INTERVAL_S`` = 60 s would be; the accuracy report
over everything logged, once a stop event meets each prediction (one per run and stop of
the largest feed); last, the retention of every row stored: the day partitions dropped
(``realtime_engine.position_partitions.maintenance.maintain`` on the log's table).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta


def feed_bytes(runs: int, stops: int, now: int, start_date: str) -> bytes:
    """A TripUpdates feed of ``runs`` runs, each with ``stops`` arrivals 60 s apart ahead."""
    from schedule_engine.feeds.builders import build_trip_updates
    from schedule_engine.feeds.snapshots import (
        StopTimeUpdateSnapshot,
        TripEntity,
        TripSnapshot,
        VehicleSnapshot,
    )

    trips = []
    for i in range(runs):
        trip = TripSnapshot(f"trip-{i}", f"R{i % 120}", i % 2, start_date, "10:30:00")
        updates = tuple(
            StopTimeUpdateSnapshot(
                2 + k, f"S{(i + k) % 4000}", now + 60 * (k + 1), now + 60 * k + 70
            )
            for k in range(stops)
        )
        trips.append(TripEntity(f"run-{i}", trip, now, VehicleSnapshot(f"v{i}"), updates))
    return build_trip_updates(trips, now=now).SerializeToString()


def report_time(runs: int, stops: int, now: int, day) -> list[float]:
    """Store the stop events the logged predictions meet (one per run and stop), then time
    the accuracy report over the day, twice."""
    from django.db import connection

    from realtime_engine.models import StopEvent
    from reports.filters import ReportFilters
    from reports.selectors.accuracy import prediction_accuracy
    from runs.models import Run, Vehicle

    Vehicle.objects.bulk_create(Vehicle(id=f"v{i}") for i in range(runs))
    Run.objects.bulk_create(
        Run(vehicle_id=f"v{i}", route_id=f"R{i % 120}", trip_id=f"trip-{i}", start_date=day)
        for i in range(runs)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {StopEvent._meta.db_table} (run_id, trip_id, service_date,"
            " stop_sequence, stop_id, arrived_at, source, revision)"
            " SELECT r.id, r.trip_id, r.start_date, s, 'S' || s,"
            " to_timestamp(%s + 60 * (s - 1) + (hashtext(r.trip_id) %% 120)), 'observed', 0"
            f" FROM {Run._meta.db_table} r, generate_series(2, %s) AS s",
            [now, stops + 1],
        )
        cursor.execute(f"ANALYZE {StopEvent._meta.db_table}")
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        prediction_accuracy(ReportFilters(day, day), timezone="UTC")
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="2000,6000", help="published runs per feed")
    parser.add_argument(
        "--stops", type=int, default=20, help="arrivals per run (<= 30: the horizon)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.runs.split(",") if s]

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    django.setup()
    from django.db import connection

    from benchmarks.scratch_db import drop_database, scratch_database
    from realtime_engine.position_partitions.maintenance import maintain
    from reports.models import PREDICTION_LOG_PARTITIONS, PredictionLog
    from reports.prediction_log.sample import sample_of
    from reports.prediction_log.storage import sample_store

    name = scratch_database("prediction_log")
    table = PredictionLog._meta.db_table
    try:
        now = int(time.time())
        day = datetime.fromtimestamp(now, UTC).date()
        print(f"prediction log sample: {args.stops} arrivals per run, {args.rounds} rounds")
        for n, runs in enumerate(sizes):
            parse_ms, store_ms, rows = [], [], 0
            for r in range(args.rounds):
                at = now + 100_000 * n + 1000 * r  # a new header timestamp: a new sample
                payload = feed_bytes(runs, args.stops, at, day.strftime("%Y%m%d"))
                t0 = time.perf_counter()
                sample = sample_of(payload, max_horizon_s=1800)
                t1 = time.perf_counter()
                rows = sample_store(sample)
                t2 = time.perf_counter()
                assert rows == runs * args.stops, rows
                parse_ms.append((t1 - t0) * 1000)
                store_ms.append((t2 - t1) * 1000)
            total = statistics.median(p + s for p, s in zip(parse_ms, store_ms, strict=True))
            print(
                f"  {runs:>5,} runs, {rows:>7,} rows/sample: parse "
                f"{statistics.median(parse_ms):7.1f} ms, store (COPY) "
                f"{statistics.median(store_ms):7.1f} ms, {rows / total * 1000:>9,.0f} rows/s "
                f"(store runs {', '.join(f'{s:.0f}' for s in store_ms)} ms)"
            )
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table}")
            # A partitioned parent holds no bytes itself: its partitions' sizes add up.
            cursor.execute(
                f"SELECT (SELECT count(*) FROM {table}), sum(pg_total_relation_size(inhrelid))"
                f" FROM pg_inherits WHERE inhparent = '{table}'::regclass"
            )
            count, size = cursor.fetchone()
        per_row = float(size) / count
        print(
            f"bytes per row (heap + 2 indexes + TOAST, after VACUUM): {per_row:.1f} over {count:,}"
        )
        for runs in sizes:
            day_rows = runs * args.stops * 1440
            print(
                f"  a day of {runs:,} runs sampled every 60 s: {day_rows / 1e6:,.1f} M rows, "
                f"{day_rows * per_row / 1e9:,.1f} GB"
            )
        report_s = report_time(max(sizes), args.stops, now, day)
        print(
            f"accuracy report over the whole log ({count:,} predictions, {max(sizes):,} runs' "
            f"stop events): {', '.join(f'{t:.2f}' for t in report_s)} s (two runs)"
        )
        # Every row stored goes: 40 days on, every day partition written is past retention.
        t0 = time.perf_counter()
        report = maintain(
            now=datetime.now(UTC) + timedelta(days=40),
            ahead_days=0,
            retention_days=30,
            table=PREDICTION_LOG_PARTITIONS,
        )
        elapsed = time.perf_counter() - t0
        print(
            f"retention (drop {len(report.dropped)} day partitions, trim "
            f"{report.trimmed_rows:,} DEFAULT rows): {elapsed:.2f} s"
        )
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
