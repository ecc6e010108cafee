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


def raw_ranges(
    start: dt.date, end: dt.date, summarized: frozenset[dt.date]
) -> list[tuple[dt.date, dt.date]]:
    """The runs of consecutive dates in ``start``..``end`` not in ``summarized``."""
    ranges: list[tuple[dt.date, dt.date]] = []
    day = start
    while day <= end:
        if day in summarized:
            day += dt.timedelta(days=1)
            continue
        first = day
        while day + dt.timedelta(days=1) <= end and day + dt.timedelta(days=1) not in summarized:
            day += dt.timedelta(days=1)
        ranges.append((first, day))
        day += dt.timedelta(days=1)
    return ranges
