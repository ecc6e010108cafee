"""Stop events beside their schedule, in one query: the raw input of the on-time, headway
and running-time reports (and of the daily summaries, which are these reports' tallies
of one past day).

A stop event (``realtime_engine.models.StopEvent``) is joined to its run (route,
direction, instance start) and to the stop time of the run's feed version
(``Run.feed_version``, the feed's id) with the same trip and stop sequence. The scheduled
instant is computed in SQL as ``schedule_engine.service_days`` does: the service day's
origin (local noon - 12 h in the feed's time zone) + the stop time's seconds + the
instance's shift (``start_time`` - the trip's first departure, as
``realtime_engine.progression.scheduled_stops.start_shift_s``). An event without a
matching stop time (an added trip, a feed version since deleted) has no schedule and is
left out of every report.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection

from realtime_engine.models import StopEvent
from reports.measures.observations import StopObservation
from reports.selectors.days import day_start
from runs.models import Run
from schedule_engine.models import Feed, StopTime

# A start_time GTFS-RT style (HH:MM:SS, hours may pass 24) or none: no shift.
_QUERY = """
WITH calls AS (
    SELECT se.run_id, se.service_date, r.route_id, r.direction_id, se.trip_id,
           se.stop_sequence, se.stop_id, se.arrived_at, se.departed_at,
           st.arrival_s, st.departure_s, f.timezone, trip.first_departure_s,
           trip.first_sequence, trip.last_sequence,
           CASE WHEN r.start_time ~ '^[0-9]{{1,3}}:[0-5][0-9]:[0-5][0-9]$'
                THEN split_part(r.start_time, ':', 1)::int * 3600
                     + split_part(r.start_time, ':', 2)::int * 60
                     + split_part(r.start_time, ':', 3)::int - trip.first_departure_s
                ELSE 0 END AS shift_s,
           ((se.service_date + time '12:00') AT TIME ZONE f.timezone)
               - interval '12 hours' AS origin
    FROM {events} se
    JOIN {runs} r ON r.id = se.run_id
    JOIN {stop_times} st
      ON st.feed_id = (CASE WHEN r.feed_version ~ '^[0-9]{{1,18}}$'
                            THEN r.feed_version::bigint END)
     AND st.trip_id = se.trip_id AND st.stop_sequence = se.stop_sequence
    JOIN {feeds} f ON f.id = st.feed_id
    JOIN LATERAL (
        SELECT min(t.departure_s) AS first_departure_s, min(t.stop_sequence) AS first_sequence,
               max(t.stop_sequence) AS last_sequence
        FROM {stop_times} t WHERE t.feed_id = st.feed_id AND t.trip_id = se.trip_id
    ) trip ON true
    WHERE se.service_date BETWEEN %(start)s AND %(end)s {narrowing}
      -- the arrival index's range: a service day's calls lie within a day before its
      -- date and two after (GTFS times up to 48 h, any UTC offset)
      AND se.arrived_at >= %(after)s AND se.arrived_at < %(before)s
)
SELECT run_id, service_date, route_id, direction_id, trip_id, stop_sequence, stop_id,
       extract(epoch FROM arrived_at), extract(epoch FROM departed_at),
       extract(epoch FROM origin) + arrival_s + shift_s,
       extract(epoch FROM origin) + departure_s + shift_s,
       extract(hour FROM (origin + make_interval(secs => departure_s + shift_s))
                         AT TIME ZONE timezone)::int,
       first_sequence, last_sequence
FROM calls
ORDER BY run_id, stop_sequence
"""


def stop_observations(
    start: dt.date,
    end: dt.date,
    *,
    route_id: str | None = None,
    direction_id: int | None = None,
    stop_id: str | None = None,
) -> list[StopObservation]:
    """The scheduled stop events of service dates ``start``..``end`` (one query)."""
    params = {
        "start": start,
        "end": end,
        "after": day_start(start, dt.UTC, days_after=-1),
        "before": day_start(end, dt.UTC, days_after=3),
    }
    narrowing = []
    for column, name, value in (
        ("r.route_id", "route_id", route_id),
        ("r.direction_id", "direction_id", direction_id),
        ("se.stop_id", "stop_id", stop_id),
    ):
        if value is not None:
            narrowing.append(f"AND {column} = %({name})s")
            params[name] = value
    sql = _QUERY.format(
        events=StopEvent._meta.db_table,
        runs=Run._meta.db_table,
        stop_times=StopTime._meta.db_table,
        feeds=Feed._meta.db_table,
        narrowing=" ".join(narrowing),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            StopObservation(
                str(row[0]), row[1], row[2], row[3], row[4], row[5], row[6],
                float(row[7]), None if row[8] is None else float(row[8]),
                float(row[9]), float(row[10]), row[11], row[12], row[13],
            )
            for row in cursor.fetchall()
        ]  # fmt: skip
