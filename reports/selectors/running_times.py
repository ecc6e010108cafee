"""The running time report: whole trips and stop-to-stop segments per route and direction,
observed percentiles against the scheduled (``reports.measures.running_times``)."""

from __future__ import annotations

from dataclasses import dataclass

from reports.filters import ReportFilters
from reports.measures.running_times import TRIP
from reports.measures.tallies import merge_into, running_times_of
from reports.selectors.sources import report_sources
from reports.summaries import running_time_tally_of

COLUMNS = (
    "route_id", "direction_id", "from_stop_id", "to_stop_id", "count",
    "observed_p50_s", "observed_p90_s", "observed_p95_s", "scheduled_p50_s",
)  # fmt: skip


@dataclass(frozen=True)
class RunningTimeReport:
    filters: ReportFilters
    rows: list[dict]  # trips (from/to stop "") first in each route and direction

    columns = COLUMNS

    @property
    def trips(self) -> list[dict]:
        return [row for row in self.rows if row["from_stop_id"] == TRIP]

    @property
    def segments(self) -> list[dict]:
        return [row for row in self.rows if row["from_stop_id"] != TRIP]


def running_time_report(filters: ReportFilters) -> RunningTimeReport:
    sources = report_sources(filters, stop_in_query=False)
    tally = running_time_tally_of(sources.summaries)
    merge_into(
        tally, running_times_of(sources.observations, stop_id=filters.stop_id, hour=filters.hour)
    )

    # Each route and direction's trips first, then its segments in the order runs meet them.
    def order(key):
        return (
            key[0],
            -1 if key[1] is None else key[1],
            key[2] != TRIP,
            tally[key].sequence,
            key[2:],
        )

    rows = [
        {
            "route_id": key[0],
            "direction_id": key[1],
            "from_stop_id": key[2],
            "to_stop_id": key[3],
            **tally[key].summary(),
        }
        for key in sorted(tally, key=order)
    ]
    return RunningTimeReport(filters, rows)
