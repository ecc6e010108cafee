"""`make bench-history`: the position history, partitioned by day vs the old single table.

Two scratch databases (``<name>_bench_history``, ``<name>_bench_history_flat``, dropped
at the end): one migrated to the latest schema (partitioned by UTC day), one left at
realtime_engine 0005 (one table, a surrogate id, the unique and BRIN indexes). Then:

- **insert**: ``--rows`` positions of ``--vehicles`` vehicles at 1 Hz, written through
  the real writer (``realtime_engine.ingest.history.HistoryWriter``) in batches of
  ``--batch``, into each layout in turn, ``--rounds`` interleaved rounds: rows/s (wall),
  the client's and the server's (the writer's backend, from /proc) CPU µs per row.
- **bytes per row**: ``pg_total_relation_size`` (heap, indexes, TOAST) of what the
  writer stored, per row, for each layout.
- **retention**: one past day holding M rows (``--sizes``, filled server-side), removed
  as the maintenance does it (DETACH, then DROP of its partition, two transactions:
  ``realtime_engine.position_partitions.maintenance.detach``, ``drop_table``) and as
  the purge did it (chunked ``DELETE … WHERE id IN (SELECT id … LIMIT 10000)``, the
  statement the purge ran). Two sizes, and an empty day for the drop's fixed cost: how
  each grows with M, and how long the parent stays locked.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

FLAT_MIGRATION = "0005_position_record_attributes"
# The retention purge before the partitions (realtime_engine.ingest.history.purge_before).
PURGE_CHUNK_ROWS = 10_000
OLD_PURGE = """
DELETE FROM realtime_engine_positionrecord WHERE id IN (
    SELECT id FROM realtime_engine_positionrecord WHERE "timestamp" < %s LIMIT 10000
)
"""
FILL = """
INSERT INTO realtime_engine_positionrecord
    (vehicle_id, "timestamp", latitude, longitude, bearing, speed, odometer, received_at)
SELECT 'bus-' || lpad((i %% 5000)::text, 5, '0'),
       %(day)s::timestamptz + i * (interval '1 second' * 86400 / %(rows)s),
       38.9 + (i %% 1000) * 1e-4, -77.0 - (i %% 997) * 1e-4, i %% 360, (i %% 25)::float8,
       1000.0 * i, %(day)s::timestamptz + i * (interval '1 second' * 86400 / %(rows)s)
FROM generate_series(0, %(rows)s - 1) AS i
"""


def positions(rows: int, vehicles: int, start: int, received: float):
    """``rows`` fixes, vehicle after vehicle, one second apart per vehicle."""
    from runs.domain.telemetry.position import Position

    return [
        Position(
            f"bus-{n % vehicles:05d}",
            38.9 + (n % 1000) * 1e-4,
            -77.0 - (n % 997) * 1e-4,
            timestamp=start + n // vehicles,
            received_at=received,
            bearing=float(n % 360),
            speed=float(n % 25),
            odometer=1000.0 * n,
        )
        for n in range(rows)
    ]


def backend_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of one PostgreSQL backend, from /proc (same machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def insert_rate(target, batch_positions: list, batch: int) -> tuple[float, float, float]:
    """Write through the real writer; (rows/s wall, client CPU µs per row, server CPU µs
    per row: the writer's PostgreSQL backend, steadier than wall on a loaded machine)."""
    from realtime_engine.ingest.history import HistoryWriter

    writer = HistoryWriter(target)
    try:
        writer.write(batch_positions[:1])  # connect outside the timing
        pid = writer._connect().info.backend_pid
        server = backend_cpu_s(pid)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(1, len(batch_positions), batch):
            writer.write(batch_positions[i : i + batch])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server = backend_cpu_s(pid) - server
    finally:
        writer.close()
    rows = len(batch_positions) - 1
    return rows / wall, cpu / rows * 1e6, server / rows * 1e6


def connect(target, *, autocommit: bool = True):
    import psycopg

    return psycopg.connect(
        host=target.host,
        port=target.port,
        dbname=target.dbname,
        user=target.user,
        password=target.password,
        autocommit=autocommit,
    )


def bytes_per_row(target) -> tuple[int, float]:
    """Rows and bytes per row of the tables that hold rows (empty partitions left out)."""
    from psycopg import sql

    with connect(target) as conn:
        conn.execute("VACUUM ANALYZE realtime_engine_positionrecord")
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT relid::regclass::text FROM "
                "pg_partition_tree('realtime_engine_positionrecord') WHERE isleaf"
            ).fetchall()
        ] or ["realtime_engine_positionrecord"]
        rows = size = 0
        for name in tables:
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
            ).fetchone()[0]
            if count:
                rows += count
                size += conn.execute("SELECT pg_total_relation_size(%s)", [name]).fetchone()[0]
    return rows, size / rows


def drop_day(target, rows: int, day: datetime) -> tuple[float, float]:
    """Seconds to remove one day's partition holding ``rows`` rows, as the maintenance does
    it: (the detach, which locks the parent; the whole, the DROP included)."""
    from realtime_engine.position_partitions import maintenance
    from realtime_engine.position_partitions.plan import day_partition

    partition = day_partition(day.date())
    with connect(target, autocommit=False) as conn:
        with conn.transaction(), conn.cursor() as cursor:
            maintenance.create_day(cursor, partition, move_from_default=False)
        if rows:
            with conn.transaction():
                conn.execute(FILL, {"day": day, "rows": rows})
        conn.commit()
        conn.execute("CHECKPOINT")  # an expired day was written out long ago
        conn.commit()
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor:
            expired = maintenance.detach(cursor, partition)
        detached = time.perf_counter() - started
        with conn.transaction(), conn.cursor() as cursor:
            maintenance.drop_table(cursor, expired)
        return detached, time.perf_counter() - started


def delete_day(target, rows: int, day: datetime) -> tuple[float, float]:
    """Seconds for the old purge to delete one day of ``rows`` rows from the single table,
    and for the VACUUM that then reclaims them (autovacuum's work, which a DROP has none of)."""
    with connect(target) as conn:
        conn.execute(FILL, {"day": day, "rows": rows})
        conn.execute("VACUUM ANALYZE realtime_engine_positionrecord")
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        deleted = 0
        while True:
            count = conn.execute(OLD_PURGE, [day + timedelta(days=1)]).rowcount
            deleted += count
            if count < PURGE_CHUNK_ROWS:
                break
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("VACUUM realtime_engine_positionrecord")
        vacuum = time.perf_counter() - started
    assert deleted == rows, (deleted, rows)
    return seconds, vacuum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows per insert round")
    parser.add_argument("--vehicles", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", default="250000,1000000", help="rows of the day removed")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]  # --sizes "": no retention part

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from benchmarks.scratch_db import drop_database, scratch_database
    from realtime_engine.ingest.history import DatabaseTarget

    base = settings.DATABASES["default"]["NAME"]
    partitioned = scratch_database("history", app_label="realtime_engine")
    settings.DATABASES["default"]["NAME"] = base
    flat = scratch_database("history_flat", app_label="realtime_engine")
    call_command("migrate", "realtime_engine", FLAT_MIGRATION, verbosity=0)
    targets = {}
    for layout, name in (("partitioned", partitioned), ("single table", flat)):
        settings.DATABASES["default"]["NAME"] = name
        targets[layout] = DatabaseTarget.from_django()
    try:
        now = time.time()
        rates: dict[str, list[tuple[float, float, float]]] = {layout: [] for layout in targets}
        for r in range(args.rounds):
            # Each round a fresh hour of fixes (no conflicts), the same for both layouts.
            batch = positions(args.rows, args.vehicles, int(now) - 3600 * (r + 1), now)
            for layout, target in targets.items():
                rates[layout].append(insert_rate(target, batch, args.batch))
        print(
            f"insert through HistoryWriter: {args.rows:,} rows x {args.rounds} rounds, "
            f"batches of {args.batch}, {args.vehicles:,} vehicles"
        )
        for layout, runs in rates.items():
            print(
                f"  {layout:<13} {statistics.median(r for r, _, _ in runs):>9,.0f} rows/s "
                f"(runs {', '.join(f'{r:,.0f}' for r, _, _ in runs)}), "
                f"CPU us/row: client {statistics.median(c for _, c, _ in runs):.1f}, "
                f"server {statistics.median(v for _, _, v in runs):.1f} "
                f"(runs {', '.join(f'{v:.1f}' for _, _, v in runs)})"
            )
        print("bytes per row (heap + indexes + TOAST, after VACUUM):")
        for layout, target in targets.items():
            rows, per_row = bytes_per_row(target)
            print(f"  {layout:<13} {per_row:6.1f} B/row over {rows:,} rows")
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if sizes:
            _, empty = drop_day(targets["partitioned"], 0, today - timedelta(days=9))
            print("retention of one day:")
            print(f"  {0:>10,} rows: DETACH + DROP partition {empty:6.3f} s (the fixed cost)")
        for n, rows in enumerate(sizes):
            day = today - timedelta(days=10 + n)
            detached, dropped = drop_day(targets["partitioned"], rows, day)
            deleted, vacuum = delete_day(targets["single table"], rows, day)
            print(
                f"  {rows:>10,} rows: DETACH + DROP partition {dropped:6.3f} s "
                f"(parent locked {detached:5.3f} s); "
                f"chunked DELETE {deleted:6.2f} s ({rows / deleted:,.0f} rows/s) "
                f"+ VACUUM {vacuum:5.2f} s"
            )
    finally:
        drop_database(partitioned)
        drop_database(flat)


if __name__ == "__main__":
    main()
