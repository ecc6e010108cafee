"""The prediction history: the former full reload against the bounded sample table.

A scratch database gets ``--events`` stop events (runs of ``--stops`` stops on
``--routes`` routes, spread over PREDICTION_HISTORY_DAYS), then times, wall and this
process's CPU: the former reload (every stop event of the days through
``REFERENCE_QUERY``, newest 50 per key kept in Python, what each worker ran every
PREDICTION_HISTORY_REFRESH_S), the sample table's rebuild (the first task run), one
incremental task run after ``--touched`` runs each got one stop event more (a minute of
a large city: every run it re-derives is one of those), and the reload from the table
(``segment_history_load``). ``make bench-segments``; BENCH_SEGMENTS_ARGS="--events 1000000".
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import date

_EVENTS_SQL = """
INSERT INTO {events}
    (run_id, trip_id, service_date, stop_sequence, stop_id, arrived_at, departed_at, source,
     revision)
SELECT r.id, r.trip_id, r.start_date, n,
       'S' || (r.ordinal %% %(routes)s) || '-' || n,
       r.started + n * interval '90 seconds', NULL, 'observed',
       -- as the live path sets it: the matcher's clock (µs) when the event was recorded
       (EXTRACT(EPOCH FROM r.started + n * interval '90 seconds') * 1e6)::bigint
FROM (SELECT id, trip_id, start_date, row_number() OVER (ORDER BY id) AS ordinal,
             now() - interval '1 hour'
                   - random() * (%(days)s - 1) * interval '1 day' AS started
      FROM {runs}) AS r
CROSS JOIN generate_series(1, %(stops)s) AS n
"""

# One more stop for each of the first ``touched`` runs, after its last, with a new revision.
_ONE_MORE_SQL = """
INSERT INTO {events}
    (run_id, trip_id, service_date, stop_sequence, stop_id, arrived_at, departed_at, source,
     revision)
SELECT e.run_id, e.trip_id, e.service_date, e.stop_sequence + 1, e.stop_id || '+',
       e.arrived_at + interval '90 seconds', NULL, 'observed', %(revision)s
FROM {events} AS e
WHERE e.stop_sequence = %(stops)s
  AND e.run_id IN (SELECT id FROM {runs} ORDER BY id LIMIT %(touched)s)
"""


def timed(what, *args, **kwargs):
    cpu, wall = time.process_time(), time.monotonic()
    result = what(*args, **kwargs)
    return result, time.monotonic() - wall, time.process_time() - cpu


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.segment_history")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--stops", type=int, default=40, help="stop events per run")
    parser.add_argument("--routes", type=int, default=200, help="runs share their route's stops")
    parser.add_argument("--touched", type=int, default=6_000, help="runs with a new event")
    options = parser.parse_args(argv)

    from benchmarks.ingest import django_setup, machine
    from benchmarks.scratch_db import drop_database, scratch_database

    django_setup()
    from django.conf import settings
    from django.db import connection

    from realtime_engine.models import SegmentTravelSample, StopEvent
    from realtime_engine.segment_history import segment_history_load
    from realtime_engine.segment_samples import (
        MAX_SAMPLES,
        REFERENCE_QUERY,
        segment_samples_update,
    )
    from runs.models import Run, Vehicle

    days = settings.PREDICTION_HISTORY_DAYS
    database = scratch_database("segments")
    try:
        runs = -(-options.events // options.stops)
        vehicle = Vehicle.objects.create(id="bench-segments", label="bench")
        Run.objects.bulk_create(
            (
                Run(
                    id=uuid.uuid4(),
                    vehicle=vehicle,
                    route_id="R",
                    trip_id=f"T{n}",
                    start_date=date(2026, 1, 1),
                )
                for n in range(runs)
            ),
            batch_size=10_000,
        )
        tables = {"events": StopEvent._meta.db_table, "runs": Run._meta.db_table}
        with connection.cursor() as cursor:
            cursor.execute(
                _EVENTS_SQL.format(**tables),
                {"routes": options.routes, "days": days, "stops": options.stops},
            )
            cursor.execute(f"VACUUM ANALYZE {tables['events']}")
        events = StopEvent.objects.count()
        print(
            f"segment history, {machine()}: {events:,} stop events of {runs:,} runs "
            f"({options.stops} stops, {options.routes} routes, {days} days)"
        )

        def full_reload() -> int:
            kept: dict[tuple, list[float]] = {}
            with connection.cursor() as cursor:
                cursor.execute(REFERENCE_QUERY, [days])
                for from_stop, to_stop, hour, seconds in cursor:
                    bucket = kept.setdefault((from_stop, to_stop, hour), [])
                    if len(bucket) < MAX_SAMPLES:
                        bucket.append(float(seconds))
            return len(kept)

        keys, wall, cpu = timed(full_reload)
        print(
            f"  former full reload: {wall:6.2f} s wall, {cpu:6.2f} s CPU here ({keys:,} keys; "
            f"{1e6 * wall / events:.2f} µs per stop event)"
        )
        report, wall, cpu = timed(segment_samples_update, days=days)
        samples = SegmentTravelSample.objects.count()
        print(
            f"  sample table rebuild (first task run): {wall:6.2f} s wall, {cpu:6.2f} s CPU "
            f"here ({report.runs:,} runs, {samples:,} samples kept)"
        )
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {SegmentTravelSample._meta.db_table}")
            cursor.execute(
                _ONE_MORE_SQL.format(**tables),
                {
                    "revision": int(time.time() * 1e6),
                    "stops": options.stops,
                    "touched": options.touched,
                },
            )
        report, wall, cpu = timed(segment_samples_update, days=days)
        print(
            f"  incremental task run, {options.touched:,} runs with a new event: {wall:6.2f} s "
            f"wall, {cpu:6.2f} s CPU here ({report.derived:,} samples derived, "
            f"{report.written:,} written, {report.removed:,} removed)"
        )
        report, wall, cpu = timed(segment_samples_update, days=days)
        print(
            f"  incremental task run, nothing new: {wall:6.2f} s wall ({report.runs:,} runs "
            f"within the commit lag derived again, {report.written:,} written)"
        )
        history, wall, cpu = timed(segment_history_load, days)
        samples = SegmentTravelSample.objects.count()
        print(
            f"  reload from the table (segment_history_load): {wall:6.2f} s wall, {cpu:6.2f} s "
            f"CPU here ({samples:,} samples, {len(history):,} keys)"
        )
    finally:
        drop_database(database)


if __name__ == "__main__":
    main(sys.argv[1:])
