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


@dataclass(frozen=True, slots=True)
class ScheduledStopTime:
    stop_sequence: int
    stop_id: str
    arrival_s: int  # seconds after the service day's noon minus 12 h
    departure_s: int
    timepoint: bool


@dataclass(frozen=True, slots=True)
class Trip:
    trip_id: str
    route_id: str
    direction_id: int
    service_id: str
    shape_id: str
    block_id: str
    stop_times: tuple[ScheduledStopTime, ...]


@dataclass(frozen=True, slots=True)
class Schedule:
    timezone: str
    stops: dict[str, tuple[float, float]]
    trips: dict[str, Trip]
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
        stops_xy = [projection.to_xy(*self.stops[st.stop_id]) for st in trip.stop_times]
        return TripGeometry(
            trip_id=trip_id,
            shape_id=trip.shape_id,
            projection=projection,
            polyline=line,
            stop_sequences=tuple(st.stop_sequence for st in trip.stop_times),
            stop_ids=tuple(st.stop_id for st in trip.stop_times),
            stop_distances_m=tuple(stop_distances_along(line, stops_xy)),
        )


def _rows(archive: zipfile.ZipFile, name: str) -> Iterable[dict[str, str]]:
    with archive.open(name) as raw:
        yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8-sig"))


def _seconds(text: str) -> int:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


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
        times: dict[str, list[ScheduledStopTime]] = defaultdict(list)
        for r in _rows(archive, "stop_times.txt"):
            if r["trip_id"] in trip_rows:
                times[r["trip_id"]].append(
                    ScheduledStopTime(
                        int(r["stop_sequence"]),
                        r["stop_id"],
                        _seconds(r["arrival_time"]),
                        _seconds(r["departure_time"]),
                        r.get("timepoint", "1") != "0",
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
    trips = {
        trip_id: Trip(
            trip_id,
            r["route_id"],
            int(r["direction_id"]),
            r["service_id"],
            r["shape_id"],
            r.get("block_id", ""),
            tuple(sorted(times[trip_id], key=lambda st: st.stop_sequence)),
        )
        for trip_id, r in trip_rows.items()
    }
    shapes = {
        shape_id: [(lat, lon) for _, lat, lon in sorted(points)]
        for shape_id, points in shape_points.items()
    }
    return Schedule(timezone, stops, trips, shapes, calendar, calendar_dates)
