"""Where a schedule report's days come from: summaries for the past days that have them,
raw stop observations for the rest (today, and any day not yet summarized).

A summary holds a whole day of one route and direction, so it serves a report that no
stop or hour narrows; a narrowed report reads every day raw (bounded by the filters'
``MAX_DAYS`` and the stop events' arrival index).
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.filters import ReportFilters
from reports.measures.observations import StopObservation
from reports.models import RouteDaySummary
from reports.selectors.days import raw_ranges, summarized_dates
from reports.selectors.observations import stop_observations


@dataclass(frozen=True)
class Sources:
    summaries: list[RouteDaySummary]
    observations: list[StopObservation]


def report_sources(filters: ReportFilters, *, stop_in_query: bool) -> Sources:
    """The summaries and observations of ``filters``' days. ``stop_in_query``: narrow the
    raw query to the stop (running times need the stops around it, so not)."""
    narrowed = filters.stop_id is not None or filters.hour is not None
    summarized = frozenset() if narrowed else summarized_dates(filters.start, filters.end)
    summaries = []
    if summarized:
        rows = RouteDaySummary.objects.filter(service_date__in=summarized)
        if filters.route_id is not None:
            rows = rows.filter(route_id=filters.route_id)
        if filters.direction_id is not None:
            rows = rows.filter(direction_id=filters.direction_id)
        summaries = list(rows.order_by("service_date", "route_id", "direction_id"))
    observations: list[StopObservation] = []
    for start, end in raw_ranges(filters.start, filters.end, summarized):
        observations += stop_observations(
            start,
            end,
            route_id=filters.route_id,
            direction_id=filters.direction_id,
            stop_id=filters.stop_id if stop_in_query else None,
        )
    return Sources(summaries, observations)
