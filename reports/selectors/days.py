"""The agency's calendar for the reports: its time zone, today's service date, and which
past days the daily summaries already hold.

The time zone is the current feed's (``schedule_engine``), UTC without a feed, as the
trip schedules assume (``realtime_engine.trip_schedules.DEFAULT_TIMEZONE``).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from realtime_engine.trip_schedules import DEFAULT_TIMEZONE
from reports.models import RouteDaySummary
from schedule_engine.selectors import current_feed_get


def agency_timezone() -> ZoneInfo:
    feed = current_feed_get()
    return ZoneInfo((feed.timezone if feed is not None else "") or DEFAULT_TIMEZONE)


def report_today(tz: ZoneInfo | None = None) -> dt.date:
    """The agency's calendar date now: the ``today`` of ``reports.filters.parse``."""
    return timezone.now().astimezone(tz or agency_timezone()).date()


def summarized_dates(start: dt.date, end: dt.date) -> frozenset[dt.date]:
    """Service dates in ``start``..``end`` whose summaries were counted with today's
    settings (on-time window, frequent headway); a day summarized with other settings is
    read raw until it is summarized again."""
    return frozenset(
        RouteDaySummary.objects.filter(
            service_date__range=(start, end),
            early_s=settings.REPORTS_ON_TIME_EARLY_S,
            late_s=settings.REPORTS_ON_TIME_LATE_S,
            frequent_headway_s=settings.REPORTS_FREQUENT_HEADWAY_S,
        )
        .values_list("service_date", flat=True)
        .distinct()
    )


def day_start(day: dt.date, tz: ZoneInfo, *, days_after: int = 0) -> dt.datetime:
    """The instant ``day`` + ``days_after`` begins in ``tz``, held inside the calendar
    (a filter may name year 1 or 9999: a window bound, not an overflow)."""
    first, last = dt.date.min + dt.timedelta(days=2), dt.date.max - dt.timedelta(days=2)
    ordinal = min(max(day.toordinal() + days_after, first.toordinal()), last.toordinal())
    return dt.datetime.combine(dt.date.fromordinal(ordinal), dt.time(), tzinfo=tz)


def raw_ranges(
    start: dt.date, end: dt.date, summarized: frozenset[dt.date]
) -> list[tuple[dt.date, dt.date]]:
    """The runs of consecutive dates in ``start``..``end`` not in ``summarized``."""
    ranges: list[tuple[dt.date, dt.date]] = []
    first = None  # of the run being gathered
    for ordinal in range(start.toordinal(), end.toordinal() + 1):
        day = dt.date.fromordinal(ordinal)
        if day in summarized:
            if first is not None:
                ranges.append((first, dt.date.fromordinal(ordinal - 1)))
            first = None
        elif first is None:
            first = day
    if first is not None:
        ranges.append((first, end))
    return ranges
