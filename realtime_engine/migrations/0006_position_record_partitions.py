"""Position history partitioned by UTC day, keyed by (vehicle_id, timestamp).

The table becomes ``PARTITION BY RANGE ("timestamp")`` with a DEFAULT partition and
the day partitions from today to POSITION_PARTITIONS_AHEAD_DAYS ahead
(``realtime_engine.position_partitions``). The surrogate ``id`` goes: the primary key
is (vehicle_id, timestamp), the former unique constraint.

An empty table (a new installation) is simply replaced. A populated one is not copied:
it is ATTACHed whole as the partition ``…_legacy`` over ``[MINVALUE, the end of the day
an hour from now)``, so the upgrade costs one read of the table (validating the CHECK
that lets ATTACH skip its own scan) and no write of a row: dropping ``id`` is a catalog
change, and its unique and BRIN indexes become the partitions' of the new parent's
primary key and BRIN index without a rebuild. Copying instead (INSERT … SELECT) would
rewrite every row and rebuild both indexes, hours on a month of a large fleet's
history, under the same lock. Until its newest day passes the retention the legacy
partition has its old rows trimmed by chunked DELETE, as the purge did before it; then
it is dropped whole. The ingest waits on the table's lock meanwhile (its batches stay
unacknowledged and are written afterwards).

Reversible: backwards copies the rows into an unpartitioned table with an ``id`` again
(rows are rewritten that way; downgrades are rare).
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import migrations, models, transaction
from django.db.utils import IntegrityError

from realtime_engine.position_partitions import maintenance
from realtime_engine.position_partitions.plan import (
    DAY,
    LEGACY_PARTITION,
    TABLE,
    day_of,
    midnight,
    plan,
)

_COLUMNS = """
    vehicle_id varchar(64) NOT NULL,
    "timestamp" timestamptz NOT NULL,
    latitude double precision NOT NULL,
    longitude double precision NOT NULL,
    bearing double precision NULL,
    speed double precision NULL,
    odometer double precision NULL,
    received_at timestamptz NOT NULL,
    attributes jsonb DEFAULT '{}'::jsonb NOT NULL
"""
_COLUMN_NAMES = (
    'vehicle_id, "timestamp", latitude, longitude, bearing, speed, odometer, received_at, '
    "attributes"
)


def _legacy_upper(cursor, now: datetime) -> datetime:
    """A day boundary above every row: the end of the day an hour from now (the ingest
    refuses clocks a minute ahead), or of the newest row's day if one is later. The CHECK
    is tried first with the guess, so that a normal table is read once, not twice."""
    upper = midnight(day_of(now + timedelta(hours=1)) + DAY)
    try:
        with transaction.atomic(using=cursor.db.alias):
            cursor.execute(
                f"ALTER TABLE {LEGACY_PARTITION} ADD CONSTRAINT {LEGACY_PARTITION}_bounds "
                f"CHECK (\"timestamp\" < '{upper.isoformat()}')"
            )
        return upper
    except IntegrityError:
        cursor.execute(f'SELECT max("timestamp") FROM {LEGACY_PARTITION}')
        upper = midnight(day_of(cursor.fetchone()[0]) + DAY)
        cursor.execute(
            f"ALTER TABLE {LEGACY_PARTITION} ADD CONSTRAINT {LEGACY_PARTITION}_bounds "
            f"CHECK (\"timestamp\" < '{upper.isoformat()}')"
        )
        return upper


def partition(apps, schema_editor) -> None:
    now = datetime.now(UTC)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {TABLE})")
        populated = cursor.fetchone()[0]
        if populated:
            cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {LEGACY_PARTITION}")
            # Frees the name of the new primary key; takes the id sequence with it.
            cursor.execute(f"ALTER TABLE {LEGACY_PARTITION} DROP COLUMN id")
            cursor.execute(
                f"ALTER INDEX position_record_vehicle_timestamp_uniq "
                f"RENAME TO {LEGACY_PARTITION}_pkey"
            )
            cursor.execute(
                f"ALTER INDEX position_record_ts_brin RENAME TO {LEGACY_PARTITION}_ts_brin"
            )
            upper = _legacy_upper(cursor, now)
        else:
            cursor.execute(f"DROP TABLE {TABLE}")
        cursor.execute(
            f'CREATE TABLE {TABLE} ({_COLUMNS}, PRIMARY KEY (vehicle_id, "timestamp")) '
            f'PARTITION BY RANGE ("timestamp")'
        )
        cursor.execute(f'CREATE INDEX position_record_ts_brin ON {TABLE} USING brin ("timestamp")')
        if populated:
            cursor.execute(
                f"ALTER TABLE {TABLE} ATTACH PARTITION {LEGACY_PARTITION} "
                f"FOR VALUES FROM (MINVALUE) TO ('{upper.isoformat()}')"
            )
            cursor.execute(
                f"ALTER TABLE {LEGACY_PARTITION} DROP CONSTRAINT {LEGACY_PARTITION}_bounds"
            )
        maintenance.create_default(cursor)
        todo = plan(
            maintenance.existing_partitions(cursor),
            now=now,
            ahead_days=settings.POSITION_PARTITIONS_AHEAD_DAYS,
            retention_days=settings.POSITION_RETENTION_DAYS,
        )
        for day in todo.create:
            maintenance.create_day(cursor, day, move_from_default=False)


def unpartition(apps, schema_editor) -> None:
    scratch = f"{TABLE}_unpartitioned"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            f"CREATE TABLE {scratch} (id bigint GENERATED BY DEFAULT AS IDENTITY, {_COLUMNS})"
        )
        cursor.execute(
            f"INSERT INTO {scratch} ({_COLUMN_NAMES}) SELECT {_COLUMN_NAMES} FROM {TABLE} "
            f'ORDER BY "timestamp"'
        )
        cursor.execute(f"DROP TABLE {TABLE}")
        cursor.execute(f"ALTER TABLE {scratch} RENAME TO {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT position_record_vehicle_timestamp_uniq "
            f'UNIQUE (vehicle_id, "timestamp")'
        )
        cursor.execute(f'CREATE INDEX position_record_ts_brin ON {TABLE} USING brin ("timestamp")')


class Migration(migrations.Migration):
    dependencies = [
        ("realtime_engine", "0005_position_record_attributes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partition, unpartition)],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="positionrecord",
                    name="position_record_vehicle_timestamp_uniq",
                ),
                migrations.RemoveField(model_name="positionrecord", name="id"),
                migrations.AddField(
                    model_name="positionrecord",
                    name="pk",
                    field=models.CompositePrimaryKey(
                        "vehicle_id",
                        "timestamp",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
            ],
        ),
    ]
