"""The on-time performance report: shares early, on time and late, by route, stop and hour.

One query for the raw days, one for the summaries (``reports.selectors.sources``); the
measure is ``reports.measures.on_time``.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.filters import ReportFilters
from reports.measures.on_time import HOUR, ROUTE, STOP, Counts, OnTimeTally
from reports.measures.tallies import on_time_of
from reports.selectors.sources import report_sources
from reports.summaries import on_time_tally_of, window_setting

COLUMNS = (
    "dimension", "key", "departures", "early", "on_time", "late",
    "early_share", "on_time_share", "late_share",
)  # fmt: skip


@dataclass(frozen=True)
class OnTimeReport:
    filters: ReportFilters
    early_s: int
    late_s: int
    total: dict
    rows: list[dict]  # one per (dimension, key): route, then stop, then hour

    columns = COLUMNS

    def by(self, dimension: str) -> list[dict]:
        return [row for row in self.rows if row["dimension"] == dimension]


def _record(dimension: str, key: str, counts: Counts) -> dict:
    return {
        "dimension": dimension,
        "key": key,
        "departures": counts.total,
        "early": counts.early,
        "on_time": counts.on_time,
        "late": counts.late,
        **counts.shares(),
    }


def _sort_key(dimension: str, key: str):
    return (0, int(key), "") if dimension == HOUR else (0, 0, key)


def on_time_report(filters: ReportFilters) -> OnTimeReport:
    window = window_setting()
    sources = report_sources(filters, stop_in_query=True)
    tally = on_time_tally_of(sources.summaries)
    tally.merge(
        on_time_of(sources.observations, window, stop_id=filters.stop_id, hour=filters.hour)
    )
    return _report(filters, window.early_s, window.late_s, tally)


def _report(filters: ReportFilters, early_s: int, late_s: int, tally: OnTimeTally) -> OnTimeReport:
    rows = [
        _record(dimension, key, tally.by[dimension][key])
        for dimension in (ROUTE, STOP, HOUR)
        for key in sorted(tally.by[dimension], key=lambda k, d=dimension: _sort_key(d, k))
    ]
    total = _record("total", "", tally.total)
    return OnTimeReport(filters, early_s, late_s, total, rows)
