"""Migration 0006 turns a populated, unpartitioned position history into the partitioned
one without losing or changing a row, and back (real PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from realtime_engine.position_partitions.maintenance import existing_partitions
from realtime_engine.position_partitions.plan import DEFAULT_PARTITION, LEGACY_PARTITION, TABLE

BEFORE = [("realtime_engine", "0005_position_record_attributes")]
ROWS = f"""
SELECT vehicle_id, "timestamp", latitude, longitude, bearing, speed, odometer, received_at,
       attributes
FROM {TABLE} ORDER BY vehicle_id, "timestamp"
"""


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(ROWS)
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_a_populated_history_is_attached_whole_and_keeps_every_row():
    migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            # Two vehicles, a fortnight of fixes, a tracker whose clock was years behind,
            # and one row with an IO bag.
            cursor.execute(
                f'INSERT INTO {TABLE} (vehicle_id, "timestamp", latitude, longitude, bearing, '
                "speed, odometer, received_at, attributes) "
                "SELECT 'bus-' || (i % 2), now() - i * interval '1 hour', 38.9, -77.0, i % 360, "
                "NULLIF(i % 3, 0), 1000.0 * i, now(), "
                "CASE WHEN i = 7 THEN '{\"240\": 18446744073709551615}'::jsonb ELSE '{}' END "
                "FROM generate_series(0, 335) i "
                "UNION ALL SELECT 'bus-9', '2001-01-01', 1, 2, NULL, NULL, NULL, now(), '{}'"
            )
        before = rows()
        migrate(latest())
        assert rows() == before
        with connection.cursor() as cursor:
            partitions = {p.name: p for p in existing_partitions(cursor)}
            # The old table is one partition, open below; new days and the DEFAULT follow.
            assert partitions[LEGACY_PARTITION].lower is None
            assert DEFAULT_PARTITION in partitions
            assert len(partitions) >= 3
            # The primary key holds over the attached rows.
            cursor.execute(
                f"INSERT INTO {TABLE} SELECT * FROM {TABLE} WHERE vehicle_id = 'bus-9' "
                f'ON CONFLICT (vehicle_id, "timestamp") DO NOTHING'
            )
            assert cursor.rowcount == 0
        migrate(BEFORE)
        assert rows() == before  # backwards copies them back
    finally:
        # Leave the fresh layout (no legacy partition) for the tests that follow.
        migrate(BEFORE)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {TABLE}")
        migrate(latest())
