"""Create and drop the position history's day partitions: the DDL shell of ``plan``.

Run hourly by the ``realtime_engine.maintain_position_partitions`` task and by
``manage.py position_partitions maintain``, through Django's connection (never on the
ingest path, which only INSERTs into the parent table). One run at a time: a second
finds the advisory lock taken and does nothing.

Locks, since the ingest writes the parent table all the time:

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
    DEFAULT_PARTITION,
    LEGACY_PARTITION,
    TABLE,
    Partition,
    Plan,
    parse_bound,
    plan,
)

LOCK_TIMEOUT = "5s"
TRIM_CHUNK_ROWS = 10_000
# pg_try_advisory_lock key: one maintenance at a time per database.
_ADVISORY_KEY = "databus.position_partitions"

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


def existing_partitions(cursor) -> list[Partition]:
    cursor.execute(_EXISTING, [TABLE])
    return [parse_bound(name, bound) for name, bound in cursor.fetchall()]


@dataclass(frozen=True)
class PartitionSize:
    partition: Partition
    estimated_rows: int | None  # the planner's estimate; None before the first ANALYZE
    total_bytes: int  # heap, indexes and TOAST


def partition_sizes() -> list[PartitionSize]:
    """Every partition with its size (``manage.py position_partitions status``)."""
    with connection.cursor() as cursor:
        partitions = existing_partitions(cursor)
        cursor.execute(
            "SELECT c.relname, c.reltuples, pg_total_relation_size(c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [TABLE],
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


def default_days(cursor) -> set[date]:
    """The UTC days the DEFAULT partition holds rows of (a scan of it: it stays small)."""
    if not _exists(cursor, DEFAULT_PARTITION):
        return set()
    cursor.execute(
        f"SELECT DISTINCT (\"timestamp\" AT TIME ZONE 'UTC')::date FROM {DEFAULT_PARTITION}"
    )
    return {day for (day,) in cursor.fetchall()}


def create_default(cursor) -> None:
    cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT")


def create_day(cursor, partition: Partition, *, move_from_default: bool) -> None:
    """Create one day partition as a table, move its day's rows out of the DEFAULT
    partition if asked, and attach it. Run inside one transaction."""
    name, lower, upper = partition.name, _literal(partition.lower), _literal(partition.upper)
    in_range = f'"timestamp" >= {lower} AND "timestamp" < {upper}'
    has_default = _exists(cursor, DEFAULT_PARTITION)
    if has_default:
        cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(
        f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING STORAGE "
        f"INCLUDING COMPRESSION, CONSTRAINT {name}_bounds CHECK ({in_range}))"
    )
    if has_default and move_from_default:
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE {in_range} RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved"
        )
    cursor.execute(
        f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ({lower}) TO ({upper})"
    )
    # The partition constraint says the same from now on.
    cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds")


EXPIRED_SUFFIX = "_expired"


def detach(cursor, partition: Partition) -> str:
    """Detach one partition and rename it ``…_expired``, to be dropped: a moment of ACCESS
    EXCLUSIVE on the parent. Its own transaction, so that the parent's lock is not held
    while the files are removed. Returns the new name."""
    expired = f"{partition.name}{EXPIRED_SUFFIX}"
    cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {partition.name}")
    cursor.execute(f"ALTER TABLE {partition.name} RENAME TO {expired}")
    return expired


def drop_table(cursor, name: str) -> None:
    """Drop a detached partition, its rows with it (the operating system freeing its
    files takes about 0.1 s per million rows here, under no lock anyone waits for)."""
    cursor.execute(f"DROP TABLE IF EXISTS {name}")


def detached_leftovers(cursor) -> list[str]:
    """Tables ``detach`` marked expired that are still there (a run stopped before the drop)."""
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
        "AND relnamespace = current_schema()::regnamespace AND relname ~ %s ORDER BY relname",
        [f"^({TABLE}_p[0-9]{{8}}|{LEGACY_PARTITION}){EXPIRED_SUFFIX}$"],
    )
    return [name for (name,) in cursor.fetchall()]


def trim(cursor, partition: Partition, cutoff: datetime) -> int:
    """Delete the rows before ``cutoff`` in chunks, each its own transaction; returns rows."""
    name = partition.name
    statement = (
        f"DELETE FROM {name} WHERE ctid = ANY(ARRAY("
        f'SELECT ctid FROM {name} WHERE "timestamp" < %s LIMIT {TRIM_CHUNK_ROWS}))'
    )
    deleted = 0
    while True:
        cursor.execute(statement, [cutoff])
        deleted += cursor.rowcount
        if cursor.rowcount < TRIM_CHUNK_ROWS:
            return deleted


def pending(*, now: datetime, ahead_days: int, retention_days: int) -> tuple[Plan, set[date]]:
    """What a maintenance run would do now, and the days the DEFAULT partition holds."""
    with connection.cursor() as cursor:
        days = default_days(cursor)
        todo = plan(
            existing_partitions(cursor),
            now=now,
            ahead_days=ahead_days,
            retention_days=retention_days,
            default_days=days,
        )
    return todo, days


def maintain(*, now: datetime, ahead_days: int, retention_days: int) -> Report:
    """Create the partitions due, drop the expired ones, trim the rest; see the plan."""
    report = Report()
    with _advisory_lock() as held:
        if not held:
            report.skipped = True
            return report
        todo, days = pending(now=now, ahead_days=ahead_days, retention_days=retention_days)
        report.cutoff = todo.cutoff
        with connection.cursor() as cursor:
            if todo.create_default:
                with _ddl_transaction():
                    create_default(cursor)
            for partition in todo.create:
                with _ddl_transaction():
                    move = partition.lower.date() in days
                    create_day(cursor, partition, move_from_default=move)
                report.created.append(partition.name)
            for partition in todo.drop:
                with _ddl_transaction():
                    expired = detach(cursor, partition)
                with _ddl_transaction():
                    drop_table(cursor, expired)
                report.dropped.append(partition.name)
            for name in detached_leftovers(cursor):
                with _ddl_transaction():
                    drop_table(cursor, name)
                report.dropped.append(name)
            for partition in todo.trim:
                report.trimmed_rows += trim(cursor, partition, todo.cutoff)
    return report


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


@contextmanager
def _ddl_transaction() -> Iterator[None]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        yield


@contextmanager
def _advisory_lock() -> Iterator[bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [_ADVISORY_KEY])
        held = cursor.fetchone()[0]
        try:
            yield held
        finally:
            if held:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_ADVISORY_KEY])
