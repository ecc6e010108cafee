"""Which day partitions of a table should exist, and which should go. Pure.

A ``PartitionedTable`` is range-partitioned on one timestamptz column: one partition per
UTC day, named ``<table>_pYYYYMMDD`` and covering ``[midnight, next midnight)`` UTC, plus
one DEFAULT partition that holds whatever no day partition covers (a day the maintenance
has not created yet, a tracker's clock years off), so that an insert never fails for
want of a partition. The tables: the position history (``POSITIONS``,
``realtime_engine.models.PositionRecord``, on ``"timestamp"``) and the prediction log
(``reports.models.PREDICTION_LOG_PARTITIONS``, on ``predicted_at``). An upgraded position
history also has one ``legacy`` partition: the old table, attached whole over the days
it held (migration 0006).

``plan`` decides, from the partitions that exist, the days the DEFAULT partition holds
rows of and the clock, what the maintenance (``maintenance.py``, the shell) does:

- create the day partitions from today to ``ahead_days`` ahead, and those of the days
  within retention that have rows in the DEFAULT partition (the shell moves them out);
- drop every bounded partition that lies wholly before the retention cutoff;
- trim, by deleting the rows before the cutoff, a partition that straddles it: the
  DEFAULT one, and a legacy partition until its last day expires. Day partitions never
  straddle it, since the cutoff is a UTC midnight.

The cutoff is the UTC midnight ``retention_days`` before today's (the day of ``now``
minus ``retention_days``): a row is kept between ``retention_days`` and
``retention_days + 1`` days, and a day is dropped as one partition, never row by row.
Imports nothing of the project, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

DAY = timedelta(days=1)


@dataclass(frozen=True)
class PartitionedTable:
    """A table partitioned by UTC day on ``column`` (a timestamptz), and the settings its
    maintenance reads (the shell's: ``plan`` takes the numbers)."""

    name: str
    column: str
    ahead_days_setting: str
    retention_days_setting: str

    @property
    def default_partition(self) -> str:
        return f"{self.name}_default"

    @property
    def legacy_partition(self) -> str:
        return f"{self.name}_legacy"


POSITIONS = PartitionedTable(
    "realtime_engine_positionrecord",
    "timestamp",
    ahead_days_setting="POSITION_PARTITIONS_AHEAD_DAYS",
    retention_days_setting="POSITION_RETENTION_DAYS",
)
# The position history's names, as the ingest, migration 0006 and their tests use them.
TABLE = POSITIONS.name
DEFAULT_PARTITION = POSITIONS.default_partition
LEGACY_PARTITION = POSITIONS.legacy_partition


@dataclass(frozen=True, order=True)
class Partition:
    """One partition: ``[lower, upper)``; both None for the DEFAULT partition."""

    name: str
    lower: datetime | None = None
    upper: datetime | None = None

    @property
    def is_default(self) -> bool:
        return self.lower is None and self.upper is None

    def overlaps(self, lower: datetime, upper: datetime) -> bool:
        """Whether this partition's range meets ``[lower, upper)`` (DEFAULT meets none)."""
        if self.is_default:
            return False
        return (self.lower is None or self.lower < upper) and (
            self.upper is None or lower < self.upper
        )


@dataclass(frozen=True)
class Plan:
    """What to do, in that order: create (oldest first), drop, trim rows before ``cutoff``."""

    cutoff: datetime
    create_default: bool
    create: tuple[Partition, ...]
    drop: tuple[Partition, ...]
    trim: tuple[Partition, ...]

    @property
    def is_empty(self) -> bool:
        return not (self.create_default or self.create or self.drop or self.trim)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def day_of(moment: datetime) -> date:
    """The UTC day of an aware datetime."""
    return moment.astimezone(UTC).date()


def day_partition(day: date, table: PartitionedTable = POSITIONS) -> Partition:
    return Partition(f"{table.name}_p{day:%Y%m%d}", midnight(day), midnight(day + DAY))


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """The UTC midnight before which rows are removed (see the module docstring)."""
    return midnight(day_of(now) - timedelta(days=retention_days))


def plan(
    existing: Iterable[Partition],
    *,
    now: datetime,
    ahead_days: int,
    retention_days: int,
    default_days: Collection[date] = (),
    table: PartitionedTable = POSITIONS,
) -> Plan:
    """The maintenance to do given the ``existing`` partitions and the UTC days the
    DEFAULT partition holds rows of (``default_days``)."""
    existing = sorted(existing)
    today = day_of(now)
    cutoff = retention_cutoff(now, retention_days)
    wanted = {today + timedelta(days=n) for n in range(ahead_days + 1)}
    wanted |= {d for d in default_days if cutoff <= midnight(d) and d <= max(wanted)}
    create = tuple(
        day_partition(d, table)
        for d in sorted(wanted)
        if not any(p.overlaps(midnight(d), midnight(d + DAY)) for p in existing)
    )
    drop = tuple(p for p in existing if p.upper is not None and p.upper <= cutoff)
    trim = tuple(
        p
        for p in existing
        if (p.lower is None or p.lower < cutoff) and (p.upper is None or p.upper > cutoff)
    )
    return Plan(
        cutoff=cutoff,
        create_default=not any(p.is_default for p in existing),
        create=create,
        drop=drop,
        trim=trim,
    )


_BOUND = re.compile(r"FOR VALUES FROM \((?P<lower>[^)]*)\) TO \((?P<upper>[^)]*)\)")


def parse_bound(name: str, bound: str) -> Partition:
    """A partition from PostgreSQL's text of its bound (``pg_get_expr(relpartbound)``):
    ``DEFAULT`` or ``FOR VALUES FROM ('2026-12-02 00:00:00+00') TO (…)``; MINVALUE
    and MAXVALUE read as an open end."""
    if bound.strip() == "DEFAULT":
        return Partition(name)
    match = _BOUND.fullmatch(bound.strip())
    if match is None:
        raise ValueError(f"partition {name}: not a range bound: {bound!r}")
    return Partition(name, _parse_end(match["lower"]), _parse_end(match["upper"]))


def _parse_end(text: str) -> datetime | None:
    text = text.strip()
    if text in ("MINVALUE", "MAXVALUE"):
        return None
    return datetime.fromisoformat(text.strip("'")).astimezone(UTC)
