"""The daily summaries: each past service day's report tallies per route and direction.

``summarize_day`` reads the day's stop observations (one query, the reports' own) and
replaces the day's ``RouteDaySummary`` rows in one transaction: a re-run rewrites them,
and a report never sees half a day. ``summarize_due_days`` (the beat task) summarizes
the days that are over: service day D is over ``REPORTS_SUMMARY_LAG_S`` after the origin
of D + 1 (``schedule_engine.service_days``; trips after midnight, 25:10:00, still belong
to D), looking back ``LOOKBACK_DAYS`` so a day missed while beat was down is caught up
and a late stop event (a worker's retry) is counted. The codec here is the one reading
and writing of the rows' JSON, for the selectors too.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reports.measures.headways import Moments
from reports.measures.on_time import HOUR, ROUTE, STOP, Counts, OnTimeTally, Window
from reports.measures.running_times import RunningKey, RunningTimes
from reports.measures.tallies import headways_of, on_time_of, running_times_of
from reports.models import RouteDaySummary
from reports.selectors.days import agency_timezone
from reports.selectors.observations import stop_observations
from schedule_engine.service_days import service_day_origin

LOOKBACK_DAYS = 3


def window_setting() -> Window:
    return Window(settings.REPORTS_ON_TIME_EARLY_S, settings.REPORTS_ON_TIME_LATE_S)


def summarize_day(day: dt.date) -> int:
    """Replace ``day``'s summaries with its tallies now; the number of rows written."""
    window, frequent_s = window_setting(), settings.REPORTS_FREQUENT_HEADWAY_S
    groups: dict[tuple[str, int | None], list] = {}
    for observation in stop_observations(day, day):
        groups.setdefault((observation.route_id, observation.direction_id), []).append(observation)
    now = timezone.now()
    rows = []
    order = sorted(groups, key=lambda key: (key[0], -1 if key[1] is None else key[1]))
    for route_id, direction_id in order:
        observations = groups[(route_id, direction_id)]
        on_time = on_time_of(observations, window)
        rows.append(
            RouteDaySummary(
                service_date=day,
                route_id=route_id,
                direction_id=direction_id,
                departures=on_time.total.total,
                early=on_time.total.early,
                on_time=on_time.total.on_time,
                late=on_time.total.late,
                on_time_by={
                    dimension: {key: c.as_list() for key, c in on_time.by[dimension].items()}
                    for dimension in (STOP, HOUR)
                },
                headways={
                    stop_id: moments.as_list()
                    for (_, _, stop_id), moments in headways_of(observations, frequent_s).items()
                },
                running_times=[
                    [
                        from_stop,
                        to_stop,
                        dict(times.observed),
                        dict(times.scheduled),
                        times.sequence,
                    ]
                    for (_, _, from_stop, to_stop), times in running_times_of(observations).items()
                ],
                early_s=window.early_s,
                late_s=window.late_s,
                frequent_headway_s=frequent_s,
                summarized_at=now,
            )
        )
    with transaction.atomic():
        RouteDaySummary.objects.filter(service_date=day).delete()
        RouteDaySummary.objects.bulk_create(rows)
    return len(rows)


def due_days(now: dt.datetime, tz: ZoneInfo, lag_s: int, lookback: int) -> list[dt.date]:
    """The last ``lookback`` service days that are over at ``now`` (oldest first). Pure."""
    local = now.astimezone(tz).date()
    days = []
    for back in range(lookback + 2, -1, -1):
        day = local - dt.timedelta(days=back)
        ends = service_day_origin(day + dt.timedelta(days=1), tz) + dt.timedelta(seconds=lag_s)
        if ends <= now:
            days.append(day)
    return days[-lookback:]


def summarize_due_days() -> dict[str, int]:
    """Summarize (again) the service days that are over; rows written per day."""
    days = due_days(
        timezone.now(), agency_timezone(), settings.REPORTS_SUMMARY_LAG_S, LOOKBACK_DAYS
    )
    return {day.isoformat(): summarize_day(day) for day in days}


# Reading the rows back into tallies (the selectors).


def on_time_tally_of(rows: Iterable[RouteDaySummary]) -> OnTimeTally:
    tally = OnTimeTally()
    for row in rows:
        counts = Counts(row.early, row.on_time, row.late)
        tally.total.merge(counts)
        tally.by[ROUTE].setdefault(row.route_id, Counts()).merge(counts)
        for dimension in (STOP, HOUR):
            for key, values in row.on_time_by.get(dimension, {}).items():
                tally.by[dimension].setdefault(key, Counts()).merge(Counts.from_list(values))
    return tally


def headway_tally_of(rows: Iterable[RouteDaySummary]) -> dict:
    tally: dict = {}
    for row in rows:
        for stop_id, values in row.headways.items():
            key = (row.route_id, row.direction_id, stop_id)
            tally.setdefault(key, Moments()).merge(Moments.from_list(values))
    return tally


def running_time_tally_of(rows: Iterable[RouteDaySummary]) -> dict[RunningKey, RunningTimes]:
    tally: dict[RunningKey, RunningTimes] = {}
    for row in rows:
        for from_stop, to_stop, observed, scheduled, sequence in row.running_times:
            times = RunningTimes(
                Counter({int(s): n for s, n in observed.items()}),
                Counter({int(s): n for s, n in scheduled.items()}),
                sequence,
            )
            key = (row.route_id, row.direction_id, from_stop, to_stop)
            tally.setdefault(key, RunningTimes()).merge(times)
    return tally
