"""The prediction-accuracy report: the prediction log against the stop events, in one query.

Each logged prediction (``reports.models.PredictionLog``) meets the observed arrival
of its stop: the stop event of the same trip, service date (the log's ``start_date``),
instance (its run's ``start_time`` = the log's: the instances of a frequency-based trip
share its trip_id) and stop sequence (``realtime_engine.models.StopEvent``; the earliest,
if two runs recorded one instance's stop). The join is made here, when reporting, not filled
into the log: a stop event is upserted again when the matcher revises it (an
interpolated arrival replaced by an observed one), and the join always reads the
current one, with no second write to the biggest table of the reports.

PostgreSQL buckets each prediction and sums, per (bucket, route, direction, service
date, hour), what ``reports.measures.accuracy.Tally`` holds; the edges and bands come
from ``BUCKETS``, as parameters of the query. The coarser groupings (by bucket, by bucket and
route, over time by day and by hour) are merges of those tallies here. A prediction
whose stop has no stop event (the vehicle never got there, or the matcher missed it)
is counted as ``unobserved``, in no bucket.

A past day that ``reports.prediction_log.daily`` summarized is read from its
``PredictionAccuracyDay`` rows (the same tallies, kept), unless a stop narrows the
report (the summaries have no stop); the other days (today, a day not summarized yet)
are read raw, so the report is the same either way, and a day pruned from the raw log
still reports from its summary.

Filters (``reports.filters.ReportFilters``): service dates on the log's ``start_date``;
route, direction and stop on the log's own columns (as the feed published them); the
hour is the hour of day, in the agency's time zone, when the prediction was published
(the feed's header timestamp), which is also the hour the "over time" rows use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.db import connection

from realtime_engine.models import StopEvent
from reports.filters import ReportFilters
from reports.measures.accuracy import BUCKETS, Bucket, Tally, merge, overall_accuracy
from reports.models import PredictionAccuracyDay, PredictionLog
from reports.selectors.days import agency_timezone, day_start, raw_ranges
from runs.models import Run

# (bucket index or None: unobserved, route_id, direction_id, service date, hour)
FineKey = tuple[int | None, str, int | None, date, int]

# Stop events of service date D lie within [D - 1 day, D + 3 days) UTC (any time zone,
# trips past 24:00:00): a range on the indexed arrived_at that bounds the join's scan.
UTC_ZONE = ZoneInfo("UTC")
_BEFORE = timedelta(days=1)
_AFTER = timedelta(days=3)


@dataclass(frozen=True)
class AccuracyRow:
    """One flat record of the report (a CSV row): the group, then its measures.

    ``group`` says which fields name it: ``bucket`` (all routes), ``route`` (bucket and
    route), ``day`` (bucket and service date), ``hour`` (bucket and hour of day)."""

    group: str
    bucket: str
    route_id: str | None
    day: date | None
    hour: int | None
    count: int
    mae_s: float | None
    bias_s: float | None
    within_share: float | None
    band_early_s: int | None
    band_late_s: int | None


@dataclass(frozen=True)
class AccuracyReport:
    filters: ReportFilters
    timezone: str
    buckets: tuple[Bucket, ...]
    rows: tuple[AccuracyRow, ...]
    # The benchmark's one number: the mean of the banded buckets' within shares.
    overall_accuracy: float | None
    predictions: int  # logged predictions the filters select, observed or not
    unobserved: int  # of which no stop event was recorded

    def _group(self, name: str) -> tuple[AccuracyRow, ...]:
        return tuple(row for row in self.rows if row.group == name)

    @property
    def by_bucket(self) -> tuple[AccuracyRow, ...]:
        return self._group("bucket")

    @property
    def by_route(self) -> tuple[AccuracyRow, ...]:
        return self._group("route")

    @property
    def by_day(self) -> tuple[AccuracyRow, ...]:
        return self._group("day")

    @property
    def by_hour(self) -> tuple[AccuracyRow, ...]:
        return self._group("hour")


def prediction_accuracy(filters: ReportFilters, *, timezone: str | None = None) -> AccuracyReport:
    """The accuracy of the logged predictions the filters select; ``timezone`` (IANA) is
    the agency's, by default the current GTFS version's (UTC without one). It sets the
    hours of the days read raw; a summarized day keeps the hours it was counted with
    (the agency's, by ``reports.prediction_log.daily``)."""
    zone = timezone or agency_timezone().key
    ZoneInfo(zone)  # an unknown zone fails here, not inside the query
    summarized = frozenset() if filters.stop_id is not None else summarized_days(filters)
    fine = summary_tallies(filters, summarized)
    for start, end in raw_ranges(filters.start, filters.end, summarized):
        fine.update(raw_tallies(replace(filters, start=start, end=end), zone))
    predictions = sum(t.count for t in fine.values())
    unobserved = sum(t.count for key, t in fine.items() if key[0] is None)
    seen = [(key, t) for key, t in fine.items() if key[0] is not None]
    by_bucket = merge((BUCKETS[k[0]].label, t) for k, t in seen)
    rows = [
        *_rows("bucket", merge(((k[0],), t) for k, t in seen)),
        *_rows("route", merge(((k[0], k[1]), t) for k, t in seen)),
        *_rows("day", merge(((k[0], k[3]), t) for k, t in seen)),
        *_rows("hour", merge(((k[0], k[4]), t) for k, t in seen)),
    ]
    return AccuracyReport(
        filters=filters,
        timezone=zone,
        buckets=BUCKETS,
        rows=tuple(rows),
        overall_accuracy=overall_accuracy(by_bucket),
        predictions=predictions,
        unobserved=unobserved,
    )


def raw_tallies(filters: ReportFilters, zone: str) -> dict[FineKey, Tally]:
    """The tallies of the raw log and stop events, per fine key, in one query."""
    sql, params = _query(filters, zone)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            (bucket, route_id, direction_id, day, hour): Tally(count, abs_sum, total, within)
            for bucket, route_id, direction_id, day, hour, count, abs_sum, total, within in (
                cursor.fetchall()
            )
        }


def summarized_days(filters: ReportFilters) -> frozenset[date]:
    """The service dates of the range that have accuracy summaries."""
    return frozenset(
        PredictionAccuracyDay.objects.filter(service_date__range=(filters.start, filters.end))
        .values_list("service_date", flat=True)
        .distinct()
    )


def summary_tallies(filters: ReportFilters, days: frozenset[date]) -> dict[FineKey, Tally]:
    """The kept tallies of ``days``, narrowed by route, direction and hour."""
    if not days:
        return {}
    rows = PredictionAccuracyDay.objects.filter(service_date__in=days)
    for name in ("route_id", "direction_id", "hour"):
        value = getattr(filters, name)
        if value is not None:
            rows = rows.filter(**{name: value})
    return {
        (r.bucket, r.route_id, r.direction_id, r.service_date, r.hour): Tally(
            r.count, r.abs_error_sum, r.error_sum, r.within_count
        )
        for r in rows
    }


def _rows(group: str, tallies: dict[tuple, Tally]) -> list[AccuracyRow]:
    rows = []
    for key in sorted(tallies):
        bucket, rest = BUCKETS[key[0]], key[1:]
        value = tallies[key]
        rows.append(
            AccuracyRow(
                group=group,
                bucket=bucket.label,
                route_id=rest[0] if group == "route" else None,
                day=rest[0] if group == "day" else None,
                hour=rest[0] if group == "hour" else None,
                count=value.count,
                mae_s=value.mae_s,
                bias_s=value.bias_s,
                within_share=value.within_share(bucket),
                band_early_s=bucket.early_s,
                band_late_s=bucket.late_s,
            )
        )
    return rows


def _query(filters: ReportFilters, zone: str) -> tuple[str, dict]:
    log = PredictionLog._meta.db_table
    events = StopEvent._meta.db_table
    runs = Run._meta.db_table
    params: dict = {
        "start": filters.start,
        "end": filters.end,
        # Held inside the calendar: a filter may name year 1 or 9999.
        "from": day_start(filters.start, UTC_ZONE, days_after=-_BEFORE.days),
        "to": day_start(filters.end, UTC_ZONE, days_after=_AFTER.days),
        "zone": zone,
    }
    where = ["p.start_date BETWEEN %(start)s AND %(end)s"]
    for name in ("route_id", "direction_id", "stop_id"):
        value = getattr(filters, name)
        if value is not None:
            where.append(f"p.{name} = %({name})s")
            params[name] = value
    hour = "extract(hour FROM p.predicted_at AT TIME ZONE %(zone)s)::int"
    if filters.hour is not None:
        where.append(f"{hour} = %(hour)s")
        params["hour"] = filters.hour
    # Bucket i holds time-to-actual below upper_i (below 0 falls in the first); the band
    # of bucket i is error in [-late_i, early_i]; an unbanded bucket is never within.
    bucket_case, band_case = [], []
    for i, bucket in enumerate(BUCKETS):
        if bucket.upper_s is not None:
            bucket_case.append(f"WHEN ahead_s < %(upper_{i})s THEN {i}")
            params[f"upper_{i}"] = bucket.upper_s
        if bucket.banded:
            band_case.append(f"WHEN {i} THEN error_s BETWEEN %(late_{i})s AND %(early_{i})s")
            params[f"late_{i}"] = -bucket.late_s  # type: ignore[operator]
            params[f"early_{i}"] = bucket.early_s
    sql = f"""
WITH observed AS (
    SELECT e.trip_id, e.service_date, r.start_time, e.stop_sequence,
           min(e.arrived_at) AS arrived_at
    FROM {events} e JOIN {runs} r ON r.id = e.run_id
    WHERE e.service_date BETWEEN %(start)s AND %(end)s
      AND e.arrived_at >= %(from)s AND e.arrived_at < %(to)s
    GROUP BY e.trip_id, e.service_date, r.start_time, e.stop_sequence
), joined AS (
    SELECT p.route_id, p.direction_id, p.start_date AS day, {hour} AS hour,
           extract(epoch FROM p.predicted_arrival - o.arrived_at)::float8 AS error_s,
           extract(epoch FROM o.arrived_at - p.predicted_at)::float8 AS ahead_s
    FROM {log} p
    LEFT JOIN observed o ON o.trip_id = p.trip_id AND o.service_date = p.start_date
                        AND o.start_time = p.start_time AND o.stop_sequence = p.stop_sequence
    WHERE {" AND ".join(where)}
), bucketed AS (
    SELECT route_id, direction_id, day, hour, error_s,
           CASE WHEN ahead_s IS NULL THEN NULL {" ".join(bucket_case)} ELSE {len(BUCKETS) - 1}
           END AS bucket
    FROM joined
)
SELECT bucket, route_id, direction_id, day, hour, count(*),
       coalesce(sum(abs(error_s)), 0), coalesce(sum(error_s), 0),
       count(*) FILTER (WHERE CASE bucket {" ".join(band_case)} ELSE false END)
FROM bucketed
GROUP BY bucket, route_id, direction_id, day, hour
"""
    return sql, params
