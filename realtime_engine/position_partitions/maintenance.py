"""Create and drop a table's day partitions: the DDL shell of ``plan``.

Every function takes the ``PartitionedTable`` (the position history's, ``POSITIONS``,
unless told). Run hourly per table by a beat task
(``realtime_engine.maintain_position_partitions``,
``reports.maintain_prediction_log_partitions``) and by ``manage.py position_partitions
[--table …] maintain``, through Django's connection (never on the write path, which only
INSERTs into the parent table). One run at a time per table: a second finds the table's
advisory lock taken and does nothing.

Locks, since the writers (the ingest, the sampler) write the parent table all the time:

- A day partition is created as a plain table and then ATTACHed, which takes only SHARE
  UPDATE EXCLUSIVE on the parent (``CREATE TABLE … PARTITION OF`` would take ACCESS
  EXCLUSIVE, waiting behind any running history query and holding the ingest behind
  it). A CHECK matching its range spares ATTACH the scan of the new table. The DEFAULT
  partition is locked first, so that no row of the new day lands in it between moving
  its rows out and the ATTACH (which checks it holds none).
- Dropping a day detaches it first, in a transaction of its own: ACCESS EXCLUSIVE on
  the parent for a moment (DETACH … CONCURRENTLY is refused while a DEFAULT partition
  exists). It is renamed ``…_expired`` in that transaction and dropped in another,
  so that the parent is not locked while the day's files are removed; an ``…_expired``
  table left by a run stopped in between is dropped by the next run.
- Every DDL transaction runs with ``lock_timeout``: a step that cannot have its lock
  soon fails rather than queue the ingest behind it; the next run does it.

Trimming (the DEFAULT and a legacy partition) deletes in short chunks, like the purge
the partitions replaced.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import connection, transaction

from realtime_engine.position_partitions.plan import (
    POSITIONS,
    Partition,
    PartitionedTable,
    Plan,
    parse_bound,
    plan,
)

LOCK_TIMEOUT = "5s"
TRIM_CHUNK_ROWS = 10_000
# pg_try_advisory_lock key, with the table's name: one maintenance at a time per table.
_ADVISORY_KEY = "databus.partitions.{}"

_EXISTING = """
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = %s::regclass
ORDER BY c.relname
"""


@dataclass
class Report:
    """What one maintenance run did (the task's result)."""

    cutoff: datetime | None = None
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    trimmed_rows: int = 0
    skipped: bool = False  # another run held the lock

    def as_dict(self) -> dict:
        return {
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "created": self.created,
            "dropped": self.dropped,
            "trimmed_rows": self.trimmed_rows,
            "skipped": self.skipped,
        }


def _literal(moment: datetime) -> str:
    # DDL takes no parameters; the bounds are datetimes made by plan, never input.
    return f"'{moment.isoformat()}'"


def existing_partitions(cursor, table: PartitionedTable = POSITIONS) -> list[Partition]:
    cursor.execute(_EXISTING, [table.name])
    return [parse_bound(name, bound) for name, bound in cursor.fetchall()]


@dataclass(frozen=True)
class PartitionSize:
    partition: Partition
    estimated_rows: int | None  # the planner's estimate; None before the first ANALYZE
    total_bytes: int  # heap, indexes and TOAST


def partition_sizes(table: PartitionedTable = POSITIONS) -> list[PartitionSize]:
    """Every partition with its size (``manage.py position_partitions status``)."""
    with connection.cursor() as cursor:
        partitions = existing_partitions(cursor, table)
        cursor.execute(
            "SELECT c.relname, c.reltuples, pg_total_relation_size(c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [table.name],
        )
        sizes = {name: (rows, size) for name, rows, size in cursor.fetchall()}
    return [
        PartitionSize(
            p,
            None if sizes[p.name][0] < 0 else int(sizes[p.name][0]),
            sizes[p.name][1],
        )
        for p in partitions
    ]


def default_days(cursor, table: PartitionedTable = POSITIONS) -> set[date]:
    """The UTC days the DEFAULT partition holds rows of (a scan of it: it stays small)."""
    if not _exists(cursor, table.default_partition):
        return set()
    cursor.execute(
        f"SELECT DISTINCT ({_column(table)} AT TIME ZONE 'UTC')::date "
        f"FROM {table.default_partition}"
    )
    return {day for (day,) in cursor.fetchall()}


def create_default(cursor, table: PartitionedTable = POSITIONS) -> None:
    cursor.execute(f"CREATE TABLE {table.default_partition} PARTITION OF {table.name} DEFAULT")


def create_day(
    cursor, partition: Partition, *, move_from_default: bool, table: PartitionedTable = POSITIONS
) -> None:
    """Create one day partition as a table, move its day's rows out of the DEFAULT
    partition if asked, and attach it. Run inside one transaction."""
    name, lower, upper = partition.name, _literal(partition.lower), _literal(partition.upper)
    column, default = _column(table), table.default_partition
    in_range = f"{column} >= {lower} AND {column} < {upper}"
    has_default = _exists(cursor, default)
    if has_default:
        cursor.execute(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(
        f"CREATE TABLE {name} (LIKE {table.name} INCLUDING DEFAULTS INCLUDING STORAGE "
        f"INCLUDING COMPRESSION, CONSTRAINT {name}_bounds CHECK ({in_range}))"
    )
    if has_default and move_from_default:
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE {in_range} RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved"
        )
    cursor.execute(
        f"ALTER TABLE {table.name} ATTACH PARTITION {name} FOR VALUES FROM ({lower}) TO ({upper})"
    )
    # The partition constraint says the same from now on.
    cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds")


EXPIRED_SUFFIX = "_expired"


def detach(cursor, partition: Partition, table: PartitionedTable = POSITIONS) -> str:
    """Detach one partition and rename it ``…_expired``, to be dropped: a moment of ACCESS
    EXCLUSIVE on the parent. Its own transaction, so that the parent's lock is not held
    while the files are removed. Returns the new name."""
    expired = f"{partition.name}{EXPIRED_SUFFIX}"
    cursor.execute(f"ALTER TABLE {table.name} DETACH PARTITION {partition.name}")
    cursor.execute(f"ALTER TABLE {partition.name} RENAME TO {expired}")
    return expired


def drop_table(cursor, name: str) -> None:
    """Drop a detached partition, its rows with it (the operating system freeing its
    files takes about 0.1 s per million rows here, under no lock anyone waits for)."""
    cursor.execute(f"DROP TABLE IF EXISTS {name}")


def detached_leftovers(cursor, table: PartitionedTable = POSITIONS) -> list[str]:
    """Tables ``detach`` marked expired that are still there (a run stopped before the drop)."""
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
        "AND relnamespace = current_schema()::regnamespace AND relname ~ %s ORDER BY relname",
        [f"^({table.name}_p[0-9]{{8}}|{table.legacy_partition}){EXPIRED_SUFFIX}$"],
    )
    return [name for (name,) in cursor.fetchall()]


def trim(
    cursor, partition: Partition, cutoff: datetime, table: PartitionedTable = POSITIONS
) -> int:
    """Delete the rows before ``cutoff`` in chunks, each its own transaction; returns rows."""
    name = partition.name
    statement = (
        f"DELETE FROM {name} WHERE ctid = ANY(ARRAY("
        f"SELECT ctid FROM {name} WHERE {_column(table)} < %s LIMIT {TRIM_CHUNK_ROWS}))"
    )
    deleted = 0
    while True:
        cursor.execute(statement, [cutoff])
        deleted += cursor.rowcount
        if cursor.rowcount < TRIM_CHUNK_ROWS:
            return deleted


def pending(
    *, now: datetime, ahead_days: int, retention_days: int, table: PartitionedTable = POSITIONS
) -> tuple[Plan, set[date]]:
    """What a maintenance run would do now, and the days the DEFAULT partition holds."""
    with connection.cursor() as cursor:
        days = default_days(cursor, table)
        todo = plan(
            existing_partitions(cursor, table),
            now=now,
            ahead_days=ahead_days,
            retention_days=retention_days,
            default_days=days,
            table=table,
        )
    return todo, days


def maintain(
    *, now: datetime, ahead_days: int, retention_days: int, table: PartitionedTable = POSITIONS
) -> Report:
    """Create the partitions due, drop the expired ones, trim the rest; see the plan."""
    report = Report()
    with _advisory_lock(_ADVISORY_KEY.format(table.name)) as held:
        if not held:
            report.skipped = True
            return report
        todo, days = pending(
            now=now, ahead_days=ahead_days, retention_days=retention_days, table=table
        )
        report.cutoff = todo.cutoff
        with connection.cursor() as cursor:
            if todo.create_default:
                with _ddl_transaction():
                    create_default(cursor, table)
            for partition in todo.create:
                with _ddl_transaction():
                    move = partition.lower.date() in days
                    create_day(cursor, partition, move_from_default=move, table=table)
                report.created.append(partition.name)
            for partition in todo.drop:
                with _ddl_transaction():
                    expired = detach(cursor, partition, table)
                with _ddl_transaction():
                    drop_table(cursor, expired)
                report.dropped.append(partition.name)
            for name in detached_leftovers(cursor, table):
                with _ddl_transaction():
                    drop_table(cursor, name)
                report.dropped.append(name)
            for partition in todo.trim:
                report.trimmed_rows += trim(cursor, partition, todo.cutoff, table)
    return report


def _column(table: PartitionedTable) -> str:
    return connection.ops.quote_name(table.column)


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


@contextmanager
def _ddl_transaction() -> Iterator[None]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        yield


@contextmanager
def _advisory_lock(key: str) -> Iterator[bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
        held = cursor.fetchone()[0]
        try:
            yield held
        finally:
            if held:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])
