"""Write prediction-log samples: the database shell of the log.

A sample is written in one binary COPY (psycopg 3), never the ORM per row: 2,000
published runs make tens of thousands of rows a minute. One sample per feed: the
header timestamp is the sample's identity, and a sample whose timestamp is already in
the log writes nothing (two beat ticks over one unchanged feed, a task redelivered).
The check and the COPY run under one transaction-level advisory lock, so two workers
sampling at once cannot both write it.

The table is partitioned by UTC day (``reports.models.PREDICTION_LOG_PARTITIONS``):
the COPY goes to the parent, PostgreSQL routes each row to its day (or to the DEFAULT
partition, for a day not created yet), and the check reads one day's key index.
Retention is no DELETE here: the partitions' maintenance (``reports.prediction_log.tasks``)
drops whole days.
"""

from __future__ import annotations

from django.db import connection, transaction

from reports.models import PredictionLog
from reports.prediction_log.sample import COLUMNS, Sample

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
                        row.start_time,
                        row.stop_id,
                        row.stop_sequence,
                        row.vehicle_id,
                        row.predicted_arrival,
                        row.horizon_s,
                    )
                )
    return len(sample.rows)
