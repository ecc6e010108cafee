"""The data quality report: per day, vehicles reporting, ping intervals, the share of pings
matched on-route (one query over the position history and the stop events), and the dead
letters by reason (the dead-letter stream). Definitions: ``reports.measures.data_quality``.

Days are the agency's calendar days (local midnight to midnight); the position history
keeps ``POSITION_RETENTION_DAYS``, the stream its newest ``DLQ_MAXLEN`` letters, so older
days read as empty. Only the date range applies: positions and letters carry no route.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import connection

from databus import keys
from databus.redis import get_redis
from realtime_engine.ingest.dlq import DeadLetter
from realtime_engine.models import PositionRecord, StopEvent
from reports.filters import ReportFilters
from reports.measures.data_quality import SESSION_BREAK_S, matched_share, reasons_counted
from reports.selectors.days import agency_timezone, day_start
from runs.models import Run

COLUMNS = (
    "date", "vehicles_reporting", "pings", "ping_interval_median_s", "ping_interval_p95_s",
    "pings_matched", "matched_share", "dead_letters",
)  # fmt: skip
STREAM_BATCH = 1000

# Matched pings: a join on the vehicle, then the span (a vehicle's runs do not overlap,
# a few dozen a day), not an EXISTS per ping over every run's span.
_QUERY = """
WITH pings AS MATERIALIZED (
    SELECT p.vehicle_id, p.timestamp, (p.timestamp AT TIME ZONE %(tz)s)::date AS day,
           extract(epoch FROM p.timestamp - lag(p.timestamp)
                   OVER (PARTITION BY p.vehicle_id ORDER BY p.timestamp)) AS gap_s
    FROM {positions} p
    WHERE p.timestamp >= %(after)s AND p.timestamp < %(before)s
), spans AS MATERIALIZED (
    SELECT r.vehicle_id, min(se.arrived_at) AS first_at,
           max(coalesce(se.departed_at, se.arrived_at)) AS last_at
    FROM {events} se JOIN {runs} r ON r.id = se.run_id
    WHERE se.arrived_at >= %(after)s - interval '2 days' AND se.arrived_at < %(before)s
    GROUP BY se.run_id, r.vehicle_id
), matched AS (
    SELECT p.day, count(DISTINCT (p.vehicle_id, p.timestamp)) AS n
    FROM pings p JOIN spans s
      ON s.vehicle_id = p.vehicle_id AND p.timestamp BETWEEN s.first_at AND s.last_at
    GROUP BY p.day
)
SELECT p.day, count(DISTINCT p.vehicle_id), count(*),
       percentile_disc(0.5) WITHIN GROUP (ORDER BY p.gap_s) FILTER (WHERE p.gap_s <= %(break)s),
       percentile_disc(0.95) WITHIN GROUP (ORDER BY p.gap_s) FILTER (WHERE p.gap_s <= %(break)s),
       coalesce(max(m.n), 0)
FROM pings p LEFT JOIN matched m ON m.day = p.day
GROUP BY p.day
"""


@dataclass(frozen=True)
class DataQualityReport:
    filters: ReportFilters
    rows: list[dict]  # one per day of the range
    dead_letters: list[dict]  # {"reason", "count"} over the range, most first

    columns = COLUMNS


def _position_days(after: dt.datetime, before: dt.datetime, tz: ZoneInfo) -> dict:
    sql = _QUERY.format(
        positions=PositionRecord._meta.db_table,
        events=StopEvent._meta.db_table,
        runs=Run._meta.db_table,
    )
    params = {"tz": str(tz), "after": after, "before": before, "break": SESSION_BREAK_S}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _letters(after: dt.datetime, before: dt.datetime, tz: ZoneInfo) -> list[tuple[dt.date, str]]:
    """(local day, reason) of each letter received in the window; entry ids are the
    stream's millisecond clock when the consumer added them."""
    client = get_redis()
    low, high = int(after.timestamp() * 1000), int(before.timestamp() * 1000) - 1
    if high < 0:  # before the epoch: stream ids are never negative
        return []
    low = max(low, 0)
    letters, start = [], str(low)
    while True:
        batch = client.xrange(keys.TELEMETRY_DLQ, min=start, max=str(high), count=STREAM_BATCH)
        for entry_id, fields in batch:  # the client decodes responses (databus.redis)
            ms = int(entry_id.split("-")[0])
            day = dt.datetime.fromtimestamp(ms / 1000, tz).date()
            letters.append((day, DeadLetter.from_entry(entry_id, fields).reason))
        if len(batch) < STREAM_BATCH:
            return letters
        start = "(" + batch[-1][0]


def data_quality_report(filters: ReportFilters) -> DataQualityReport:
    tz = agency_timezone()
    after, before = day_start(filters.start, tz), day_start(filters.end, tz, days_after=1)
    days = _position_days(after, before, tz)
    letters = _letters(after, before, tz)
    letters_per_day = Counter(day for day, _ in letters)
    rows = []
    for n in range(filters.days):
        day = filters.start + dt.timedelta(days=n)
        vehicles, pings, median, p95, matched = days.get(day, (0, 0, None, None, 0))
        rows.append(
            {
                "date": day.isoformat(),
                "vehicles_reporting": vehicles,
                "pings": pings,
                "ping_interval_median_s": None if median is None else float(median),
                "ping_interval_p95_s": None if p95 is None else float(p95),
                "pings_matched": matched,
                "matched_share": matched_share(matched, pings),
                "dead_letters": letters_per_day[day],
            }
        )
    dead_letters = [
        {"reason": reason, "count": count}
        for reason, count in reasons_counted(reason for _, reason in letters)
    ]
    return DataQualityReport(filters, rows, dead_letters)
