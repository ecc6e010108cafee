"""A minimal reader of the WMATA schedule for the offline progression evaluation.

Reads ``gtfs.zip`` directly with the standard library (only the trips the trace
uses) and builds ``TripGeometry`` with ``runs.domain.geometry``. Not the schedule
importer: just enough schedule for the harness and the feed tests. The trace itself
(``avl.csv``: real pings of 2026-02-16, the agency's own stop sequence on each) is
read by the replay's reader, ``realtime_engine.replay.trace``.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from runs.domain.geometry import (
    Polyline,
    TripGeometry,
    projection_around,
    stop_distances_along,
)
from schedule_engine.gtfs_import.fields import format_time, parse_time
from schedule_engine.scheduled import ScheduledTrip, TripStopTime

FEED_ID = 0  # the trips are read from the file, not from an imported feed


@dataclass(frozen=True, slots=True)
class Schedule:
    """The trips (the schedule engine's values) with the stops, shapes and calendar."""

    timezone: str
    stops: dict[str, tuple[float, float]]
    trips: dict[str, ScheduledTrip]
    shapes: dict[str, list[tuple[float, float]]]
    calendar: dict[str, dict[str, str]]
    calendar_dates: dict[tuple[str, str], int]

    def service_active(self, service_id: str, day: date) -> bool:
        """calendar.txt, overridden by calendar_dates.txt (the holiday switch)."""
        key = (service_id, day.strftime("%Y%m%d"))
        if key in self.calendar_dates:
            return self.calendar_dates[key] == 1
        row = self.calendar.get(service_id)
        if row is None:
            return False
        weekday = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[
            day.weekday()
        ]
        return row["start_date"] <= key[1] <= row["end_date"] and row[weekday] == "1"

    def service_day_start(self, day: date) -> float:
        """POSIX seconds of noon minus 12 h, local time: the origin of GTFS times."""
        noon = datetime.combine(day, time(12), ZoneInfo(self.timezone))
        return (noon - timedelta(hours=12)).timestamp()

    def geometry(self, trip_id: str) -> TripGeometry:
        trip = self.trips[trip_id]
        points = self.shapes[trip.shape_id]
        projection = projection_around(points)
        line = Polyline.from_xy([projection.to_xy(lat, lon) for lat, lon in points])
        stops_xy = [projection.to_xy(*self.stops[st.stop_id]) for st in trip.stops]
        return TripGeometry(
            trip_id=trip_id,
            shape_id=trip.shape_id,
            projection=projection,
            polyline=line,
            stop_sequences=tuple(st.stop_sequence for st in trip.stops),
            stop_ids=tuple(st.stop_id for st in trip.stops),
            stop_distances_m=tuple(stop_distances_along(line, stops_xy)),
        )


def _rows(archive: zipfile.ZipFile, name: str) -> Iterable[dict[str, str]]:
    with archive.open(name) as raw:
        yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8-sig"))


def _trip(row: dict[str, str], stop_times: list[TripStopTime]) -> ScheduledTrip:
    stops = tuple(sorted(stop_times, key=lambda st: st.stop_sequence))
    return ScheduledTrip(
        trip_id=row["trip_id"],
        route_id=row["route_id"],
        direction_id=int(row["direction_id"]),
        shape_id=row["shape_id"],
        service_id=row["service_id"],
        start_time=format_time(stops[0].departure_s) if stops else "",
        feed_id=FEED_ID,
        stops=stops,
    )


def read_schedule(path: Path, trip_ids: set[str] | None = None) -> Schedule:
    """The schedule of ``trip_ids`` (all trips when None)."""
    with zipfile.ZipFile(path) as archive:
        timezone = next(iter(_rows(archive, "agency.txt")))["agency_timezone"]
        stops = {
            r["stop_id"]: (float(r["stop_lat"]), float(r["stop_lon"]))
            for r in _rows(archive, "stops.txt")
        }
        trip_rows = {
            r["trip_id"]: r
            for r in _rows(archive, "trips.txt")
            if trip_ids is None or r["trip_id"] in trip_ids
        }
        times: dict[str, list[TripStopTime]] = defaultdict(list)
        for r in _rows(archive, "stop_times.txt"):
            if r["trip_id"] in trip_rows:
                times[r["trip_id"]].append(
                    TripStopTime(
                        int(r["stop_sequence"]),
                        r["stop_id"],
                        parse_time(r["arrival_time"]),
                        parse_time(r["departure_time"]),
                        r.get("timepoint", "1") != "0",
                        None,  # distances along the shape come from ``Schedule.geometry``
                    )
                )
        shape_ids = {r["shape_id"] for r in trip_rows.values()}
        shape_points: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
        for r in _rows(archive, "shapes.txt"):
            if r["shape_id"] in shape_ids:
                shape_points[r["shape_id"]].append(
                    (
                        int(r["shape_pt_sequence"]),
                        float(r["shape_pt_lat"]),
                        float(r["shape_pt_lon"]),
                    )
                )
        calendar = {r["service_id"]: r for r in _rows(archive, "calendar.txt")}
        calendar_dates = {
            (r["service_id"], r["date"]): int(r["exception_type"])
            for r in _rows(archive, "calendar_dates.txt")
        }
    trips = {trip_id: _trip(r, times[trip_id]) for trip_id, r in trip_rows.items()}
    shapes = {
        shape_id: [(lat, lon) for _, lat, lon in sorted(points)]
        for shape_id, points in shape_points.items()
    }
    return Schedule(timezone, stops, trips, shapes, calendar, calendar_dates)
