"""The headway regularity report: observed headways at each stop of frequent routes, their
coefficient of variation and bunching (``reports.measures.headways``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from reports.filters import ReportFilters
from reports.measures.headways import Moments
from reports.measures.tallies import headways_of, merge_into
from reports.selectors.sources import report_sources
from reports.summaries import headway_tally_of

COLUMNS = (
    "route_id", "direction_id", "stop_id", "headways", "mean_headway_s",
    "scheduled_mean_headway_s", "cv", "bunched", "bunched_share",
)  # fmt: skip


@dataclass(frozen=True)
class HeadwayReport:
    filters: ReportFilters
    frequent_headway_s: int
    rows: list[dict]  # one per (route, direction, stop)
    routes: list[dict]  # one per (route, direction): its stops' headways together

    columns = COLUMNS


def _record(route_id: str, direction_id: int | None, stop_id: str, m: Moments) -> dict:
    return {
        "route_id": route_id,
        "direction_id": direction_id,
        "stop_id": stop_id,
        "headways": m.count,
        "mean_headway_s": m.mean_s,
        "scheduled_mean_headway_s": m.scheduled_total_s / m.count if m.count else None,
        "cv": m.cv,
        "bunched": m.bunched,
        "bunched_share": m.bunched / m.count if m.count else None,
    }


def headway_report(filters: ReportFilters) -> HeadwayReport:
    frequent_s = settings.REPORTS_FREQUENT_HEADWAY_S
    sources = report_sources(filters, stop_in_query=True)
    tally = headway_tally_of(sources.summaries)
    merge_into(
        tally,
        headways_of(sources.observations, frequent_s, stop_id=filters.stop_id, hour=filters.hour),
    )
    by_route: dict[tuple, Moments] = {}
    for (route_id, direction_id, _), moments in tally.items():
        by_route.setdefault((route_id, direction_id), Moments()).merge(moments)
    order = lambda key: (key[0], -1 if key[1] is None else key[1], *key[2:])  # noqa: E731
    return HeadwayReport(
        filters,
        frequent_s,
        [_record(*key, tally[key]) for key in sorted(tally, key=order)],
        [_record(*key, "", by_route[key]) for key in sorted(by_route, key=order)],
    )
