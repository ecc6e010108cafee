"""Write prediction-log samples and prune old days: the database shell of the log.

A sample is written in one binary COPY (psycopg 3), never the ORM per row: 2,000
published runs make tens of thousands of rows a minute. One sample per feed: the
header timestamp is the sample's identity, and a sample whose timestamp is already in
the log writes nothing (two beat ticks over one unchanged feed, a task redelivered).
The check and the COPY run under one transaction-level advisory lock, so two workers
sampling at once cannot both write it.

Retention is by whole UTC days: rows sampled before the UTC midnight
``retention_days`` before today's go (the position history's cutoff,
``realtime_engine.position_partitions.plan.retention_cutoff``), deleted in short
chunks so that no transaction holds many row locks or runs long.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction

from realtime_engine.position_partitions.plan import retention_cutoff
from reports.models import PredictionLog
from reports.prediction_log.sample import COLUMNS, Sample

PRUNE_CHUNK_ROWS = 20_000
# pg_advisory_xact_lock key: one sample write at a time per database.
_ADVISORY_KEY = "databus.prediction_log"
# The binary COPY's type of each column, in COLUMNS order (a varchar column takes text).
_TYPES = (
    "timestamptz",
    "text",
    "text",
    "int2",
    "date",
    "text",
    "int4",
    "text",
    "timestamptz",
    "int4",
)
_TABLE = PredictionLog._meta.db_table


def sample_store(sample: Sample) -> int:
    """Write the sample's rows; the number written (0 for a sample already in the log)."""
    if not sample.rows:
        return 0
    columns = ", ".join(connection.ops.quote_name(name) for name in COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [_ADVISORY_KEY])
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {_TABLE} WHERE predicted_at = %s)",
            [sample.predicted_at],
        )
        if cursor.fetchone()[0]:
            return 0
        with cursor.cursor.copy(f"COPY {_TABLE} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_TYPES)
            for row in sample.rows:
                copy.write_row(
                    (
                        row.predicted_at,
                        row.trip_id,
                        row.route_id,
                        row.direction_id,
                        row.start_date,
                        row.stop_id,
                        row.stop_sequence,
                        row.vehicle_id,
                        row.predicted_arrival,
                        row.horizon_s,
                    )
                )
    return len(sample.rows)


def prune(*, now: datetime, retention_days: int, chunk_rows: int = PRUNE_CHUNK_ROWS) -> int:
    """Delete the rows sampled before the retention cutoff; the number deleted."""
    cutoff = retention_cutoff(now, retention_days)
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {_TABLE} WHERE id IN "
                f"(SELECT id FROM {_TABLE} WHERE predicted_at < %s LIMIT %s)",
                [cutoff, chunk_rows],
            )
            count = cursor.rowcount
        deleted += count
        if count < chunk_rows:
            return deleted
