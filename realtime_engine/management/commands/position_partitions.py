"""``manage.py position_partitions [--table NAME] status|maintain``: a table's day partitions.

The table is the position history's unless ``--table`` names another registered one
(``realtime_engine.position_partitions.registry``: ``reports_predictionlog``); its ahead and
retention days come from the settings the table names. ``status`` lists the partitions
(range, estimated rows, size), the days the DEFAULT partition holds rows of and what a
maintenance run would do now; it exits 1 when today's or tomorrow's partition is missing
(the hourly task is not running: rows are going to the DEFAULT partition). ``maintain`` runs
the maintenance now, as the table's hourly task does
(``realtime_engine.maintain_position_partitions``,
``reports.maintain_prediction_log_partitions``; ``realtime_engine.position_partitions``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime_engine.position_partitions import maintenance
from realtime_engine.position_partitions.plan import (
    DAY,
    POSITIONS,
    Partition,
    PartitionedTable,
    day_of,
    day_partition,
)
from realtime_engine.position_partitions.registry import registered


class Command(BaseCommand):
    help = "Show or maintain a table's day partitions (the position history's by default)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--table",
            choices=sorted(registered()),
            default=POSITIONS.name,
            help=f"the partitioned table (default {POSITIONS.name})",
        )
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="partitions, sizes, what is due (exit 1: today missing)")
        sub.add_parser("maintain", help="create the days ahead, drop the expired ones now")

    def handle(self, *args, action: str, table: str, **options) -> None:
        getattr(self, f"_{action}")(registered()[table], datetime.now(UTC))

    def _settings(self, table: PartitionedTable) -> dict:
        return {
            "ahead_days": getattr(settings, table.ahead_days_setting),
            "retention_days": getattr(settings, table.retention_days_setting),
            "table": table,
        }

    def _status(self, table: PartitionedTable, now: datetime) -> None:
        sizes = maintenance.partition_sizes(table)
        for size in sizes:
            rows = "?" if size.estimated_rows is None else f"~{size.estimated_rows:,}"
            self.stdout.write(
                f"{size.partition.name:<44} {_range(size.partition):<34} {rows:>14} rows "
                f"{size.total_bytes / 1e6:>10.1f} MB"
            )
        todo, days = maintenance.pending(now=now, **self._settings(table))
        if days:
            listed = ", ".join(f"{d:%Y-%m-%d}" for d in sorted(days))
            self.stdout.write(f"DEFAULT partition holds rows of: {listed}")
        self.stdout.write(
            f"retention cutoff {todo.cutoff:%Y-%m-%d %H:%M} UTC; due now: "
            f"create {[p.name for p in todo.create] or 'nothing'}, "
            f"drop {[p.name for p in todo.drop] or 'nothing'}, "
            f"trim {[p.name for p in todo.trim] or 'nothing'}"
        )
        names = {size.partition.name for size in sizes}
        today = day_of(now)
        missing = [
            p.name
            for p in (day_partition(today, table), day_partition(today + DAY, table))
            if p.name not in names and p in todo.create
        ]
        if missing:
            raise CommandError(
                f"missing {', '.join(missing)}: is beat running? run `position_partitions "
                f"--table {table.name} maintain` (rows meanwhile go to the DEFAULT partition; "
                "none are lost)"
            )

    def _maintain(self, table: PartitionedTable, now: datetime) -> None:
        report = maintenance.maintain(now=now, **self._settings(table))
        if report.skipped:
            raise CommandError("another maintenance run holds the lock; try again in a moment")
        self.stdout.write(
            f"created {report.created or 'nothing'}, dropped {report.dropped or 'nothing'}, "
            f"trimmed {report.trimmed_rows} rows before {report.cutoff:%Y-%m-%d %H:%M} UTC"
        )


def _range(partition: Partition) -> str:
    if partition.is_default:
        return "DEFAULT"
    lower = "MINVALUE" if partition.lower is None else f"{partition.lower:%Y-%m-%d}"
    upper = "MAXVALUE" if partition.upper is None else f"{partition.upper:%Y-%m-%d}"
    return f"[{lower}, {upper})"
