"""The daily accuracy summaries: each past service day's tallies, kept after the raw log.

``accuracy_summarize_day`` counts one service day as the report does
(``reports.selectors.accuracy.raw_tallies``: the log joined with the stop events, in
the agency's time zone) and replaces that day's ``PredictionAccuracyDay`` rows in one
transaction, so a re-run rewrites them and a report never reads half a day. The beat
task summarizes the days that are over, by the daily summaries' own rule and look-back
(``reports.summaries.due_days``: ``REPORTS_SUMMARY_LAG_S`` after the next day's origin),
so a stop event recorded late, or a day missed while beat was down, is counted.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reports.filters import ReportFilters
from reports.models import PredictionAccuracyDay
from reports.selectors.accuracy import raw_tallies
from reports.selectors.days import agency_timezone
from reports.summaries import LOOKBACK_DAYS, due_days


def accuracy_summarize_day(day: date) -> int:
    """Replace ``day``'s accuracy summaries with its tallies now; rows written."""
    tallies = raw_tallies(ReportFilters(day, day), agency_timezone().key)
    now = timezone.now()
    rows = [
        PredictionAccuracyDay(
            service_date=service_date,
            route_id=route_id,
            direction_id=direction_id,
            hour=hour,
            bucket=bucket,
            count=t.count,
            abs_error_sum=t.abs_error_sum,
            error_sum=t.error_sum,
            within_count=t.within_count,
            summarized_at=now,
        )
        for (bucket, route_id, direction_id, service_date, hour), t in tallies.items()
    ]
    with transaction.atomic():
        PredictionAccuracyDay.objects.filter(service_date=day).delete()
        PredictionAccuracyDay.objects.bulk_create(rows)
    return len(rows)


def accuracy_summarize_due_days() -> dict[str, int]:
    """Summarize (again) the service days that are over; rows written per day."""
    days = due_days(
        timezone.now(), agency_timezone(), settings.REPORTS_SUMMARY_LAG_S, LOOKBACK_DAYS
    )
    return {day.isoformat(): accuracy_summarize_day(day) for day in days}
