"""The day-partitioned tables, by name: what ``manage.py position_partitions --table``
chooses from.

The position history's is registered here; an app higher up registers its own where it
defines the model (``reports.models``: the prediction log), since this package may not
import it (the apps depend one way, pyproject's import-linter contract).
"""

from __future__ import annotations

from realtime_engine.position_partitions.plan import POSITIONS, PartitionedTable

_TABLES: dict[str, PartitionedTable] = {}


def register(table: PartitionedTable) -> PartitionedTable:
    """Add ``table`` (idempotent); returns it, to be kept where it is defined."""
    _TABLES[table.name] = table
    return table


def registered() -> dict[str, PartitionedTable]:
    """Name → table, the position history's first."""
    return dict(_TABLES)


register(POSITIONS)
