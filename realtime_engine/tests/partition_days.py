"""Days far ahead for the day-partition tests (position history, prediction log), so a test's
partitions never meet the ones today's writes use."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from realtime_engine.position_partitions.plan import midnight

TODAY = datetime.now(UTC).date()
FAR = TODAY + timedelta(days=100)


def at(day: date, hour: int = 12) -> datetime:
    """``hour`` o'clock UTC on ``day``."""
    return midnight(day) + timedelta(hours=hour)


def day(n: int) -> date:
    """The ``n``-th day after ``FAR``."""
    return FAR + timedelta(days=n)
