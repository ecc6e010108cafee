"""Validate one GTFS feed and COPY it into the tables of one `Feed` version.

`FeedLoader.load()` runs inside the caller's transaction (the import service):
it reads the files in dependency order, checks formats and references as it
streams, collects errors with their file, line and column and raises
`FeedInvalid` at the end of the first file that had any, so the transaction
rolls back and nothing of a broken feed is ever visible. Tolerated problems
(a bad optional value, an unknown parent station) are kept as warnings.

Derived while loading: each shape's cumulative metres (in a local projection
around the shape), each stop time's metres along its trip's shape (projected
and monotonic, computed once per stop pattern), missing intermediate times
(interpolated by distance, else by stop index), and each trip's first
departure and last arrival.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from runs.domain.geometry import (
    LocalProjection,
    Polyline,
    projection_around,
    stop_distances_along,
)
from schedule_engine import models
from schedule_engine.gtfs_import import fields as parse
from schedule_engine.gtfs_import.bulk_copy import copy_into
from schedule_engine.gtfs_import.errors import FeedInvalid, FeedProblem, FieldError
from schedule_engine.gtfs_import.source import FeedSource, Record, Table
from schedule_engine.gtfs_import.tables import CALENDAR_FILES, TABLES, WEEKDAY_COLUMNS

MAX_ERRORS = 50
# Distinct values a column reader remembers (times of day, sequences, flags repeat a lot).
READER_MEMO_MAX = 200_000
Progress = Callable[[str], None]
# (file name, records read so far, share of its bytes read) → None, while a file loads
FileRowProgress = Callable[[str, int, float], None]

STOP_TIME_FIELDS = (
    "feed",
    "trip_id",
    "stop_sequence",
    "stop_id",
    "arrival_s",
    "departure_s",
    "stop_headsign",
    "pickup_type",
    "drop_off_type",
    "timepoint",
    "shape_dist_traveled",
    "distance_m",
)
TRIP_FIELDS = (
    "feed",
    "trip_id",
    "route_id",
    "service_id",
    "headsign",
    "short_name",
    "direction_id",
    "block_id",
    "shape_id",
    "wheelchair_accessible",
    "bikes_allowed",
    "first_departure_s",
    "last_arrival_s",
    "stop_count",
)
# Stop location types that must have coordinates (GTFS: stops, stations, entrances).
LOCATED_TYPES = (0, 1, 2)


@dataclass
class LoadReport:
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[FeedProblem] = field(default_factory=list)
    timezone: str = ""
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None


@dataclass(slots=True)
class _ParsedStopTime:
    sequence: int
    line: int
    stop_id: str
    arrival: int | None
    departure: int | None
    headsign: str
    pickup: int
    drop_off: int
    timepoint: int | None
    shape_dist: float | None


@dataclass(frozen=True, slots=True)
class _Shape:
    polyline: Polyline | None
    projection: LocalProjection


class FeedLoader:
    def __init__(
        self,
        source: FeedSource,
        feed_id: int,
        progress: Progress | None = None,
        row_progress: FileRowProgress | None = None,
    ):
        self.source = source
        self.feed_id = feed_id
        self.progress = progress or (lambda line: None)
        self.row_progress = row_progress
        self.report = LoadReport()
        self.errors: list[FeedProblem] = []
        self.agency_ids: set[str] = set()
        self.stop_coords: dict[str, tuple[float, float] | None] = {}
        self.route_ids: set[str] = set()
        self.service_ids: set[str] = set()
        self.dates: list[dt.date] = []
        self.shapes: dict[str, _Shape] = {}
        self.trips: dict[str, list] = {}
        self.trip_shape: dict[str, str] = {}
        self.pattern_distances: dict[tuple[str, tuple[str, ...]], list[float] | None] = {}

    # -- problems -------------------------------------------------------------------------
    def error(self, file: str, line: int | None, column: str | None, reason: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(FeedProblem(file, line, column, reason))

    def warn(self, file: str, line: int | None, column: str | None, reason: str) -> None:
        self.report.warnings.append(FeedProblem(file, line, column, reason))

    def raise_if_errors(self) -> None:
        if self.errors:
            raise FeedInvalid(self.errors)

    def required(self, table: Table, record: Record, column: str, parser=None):
        """A required value, parsed; an error (and None) when empty or malformed."""
        text = record[column]
        if not text:
            self.error(table.name, record.line, column, "required value is empty")
            return None
        if parser is None:
            return text
        try:
            return parser(text)
        except FieldError as problem:
            self.error(table.name, record.line, column, str(problem))
            return None

    def optional(
        self, table: Table, record: Record, column: str, parser, default=None, *, strict=False
    ):
        """An optional value. A malformed one is dropped with a warning, or, when ``strict``
        (times, coordinates: present means it must be valid), reported as an error."""
        text = record[column]
        if not text:
            return default
        try:
            return parser(text)
        except FieldError as problem:
            if strict:
                self.error(table.name, record.line, column, str(problem))
            else:
                self.warn(table.name, record.line, column, f"{problem} (ignored)")
            return default

    def strict_optional(self, table: Table, record: Record, column: str, parser, default=None):
        """An optional value that, when present, must be valid (times, coordinates)."""
        return self.optional(table, record, column, parser, default, strict=True)

    def reader(
        self,
        table: Table,
        column: str,
        parser,
        *,
        problem=None,
        required: bool = False,
        default=None,
    ) -> Callable[[Record], Any]:
        """A parser of one column for a large file, memoizing the values it has seen.

        A malformed value is reported through ``problem`` (`error` or, by default,
        `warn`, which drops it) and reads as ``default``; an empty one is an error
        when ``required``.
        """
        index, name = table.index(column), table.name
        report = problem or self.warn
        seen: dict[str, Any] = {}

        def read(record: Record):
            text = record.values[index].strip()
            value = seen.get(text, seen)
            if value is not seen:
                return value
            if not text:
                if required:
                    self.error(name, record.line, column, "required value is empty")
                    return None
                value = default
            else:
                try:
                    value = parser(text)
                except FieldError as error:
                    suffix = "" if report == self.error else " (ignored)"
                    report(name, record.line, column, f"{error}{suffix}")
                    return default
            if len(seen) < READER_MEMO_MAX:
                seen[text] = value
            return value

        return read

    # -- driver ---------------------------------------------------------------------------
    def load(self) -> LoadReport:
        self.check_files()
        steps = {
            "agency.txt": self.load_agencies,
            "stops.txt": self.load_stops,
            "routes.txt": self.load_routes,
            "calendar.txt": self.load_calendar,
            "calendar_dates.txt": self.load_calendar_dates,
            "shapes.txt": self.load_shapes,
            "trips.txt": self.load_trips,
            "stop_times.txt": self.load_stop_times,
            "frequencies.txt": self.load_frequencies,
            "feed_info.txt": self.load_feed_info,
        }
        for spec in TABLES:
            if not self.source.has(spec.name):
                continue
            started = time.perf_counter()
            on_rows = partial(self.row_progress, spec.name) if self.row_progress else None
            with self.source.table(spec.name, on_rows) as table:
                missing = table.missing(spec.required_columns)
                if missing:
                    raise FeedInvalid(
                        [
                            FeedProblem(spec.name, 1, column, "required column is missing")
                            for column in missing
                        ]
                    )
                count = steps[spec.name](table)
            self.raise_if_errors()
            self.report.counts[spec.name] = count
            self.progress(f"{spec.name}: {count:,} rows in {time.perf_counter() - started:.2f} s")
        if self.dates and self.report.valid_from is None:
            self.report.valid_from, self.report.valid_until = min(self.dates), max(self.dates)
        return self.report

    def check_files(self) -> None:
        problems = [
            FeedProblem(spec.name, None, None, "required file is missing")
            for spec in TABLES
            if spec.required and not self.source.has(spec.name)
        ]
        if not any(self.source.has(name) for name in CALENDAR_FILES):
            problems.append(
                FeedProblem(
                    "calendar.txt",
                    None,
                    None,
                    "required file is missing (neither calendar.txt nor calendar_dates.txt)",
                )
            )
        if problems:
            raise FeedInvalid(problems)

    # -- tables ---------------------------------------------------------------------------
    def load_agencies(self, table: Table) -> int:
        timezones: set[str] = set()
        count = 0
        with copy_into(
            models.Agency, ("feed", "agency_id", "name", "url", "timezone", "lang", "phone")
        ) as copy:
            for record in table:
                count += 1
                agency_id = record["agency_id"]
                if agency_id in self.agency_ids:
                    self.error(
                        table.name,
                        record.line,
                        "agency_id",
                        f"duplicate key agency_id {agency_id!r}",
                    )
                    continue  # the first row stands; the error aborts the import
                self.agency_ids.add(agency_id)
                name = self.required(table, record, "agency_name")
                url = self.required(table, record, "agency_url")
                timezone = self.required(table, record, "agency_timezone", _parse_timezone)
                if timezone:
                    timezones.add(timezone)
                copy.write_row(
                    (
                        self.feed_id,
                        agency_id,
                        name or "",
                        url or "",
                        timezone or "",
                        record["agency_lang"],
                        record["agency_phone"],
                    )
                )
        if count == 0:
            self.error(table.name, None, None, "the feed has no agency")
        if len(timezones) > 1:
            self.error(
                table.name,
                None,
                "agency_timezone",
                f"agencies disagree on the time zone: {', '.join(sorted(timezones))}",
            )
        self.report.timezone = next(iter(timezones), "")
        return count

    def load_stops(self, table: Table) -> int:
        rows = []
        parents: list[tuple[int, int, str]] = []
        for record in table:
            stop_id = self.required(table, record, "stop_id")
            if stop_id is None:
                continue
            if stop_id in self.stop_coords:
                self.error(table.name, record.line, "stop_id", f"duplicate key stop_id {stop_id!r}")
            location_type = self.optional(
                table, record, "location_type", lambda t: parse.parse_enum(t, range(5)), 0
            )
            if location_type in LOCATED_TYPES:
                lat = self.required(table, record, "stop_lat", parse.parse_latitude)
                lon = self.required(table, record, "stop_lon", parse.parse_longitude)
            else:
                lat = self.strict_optional(table, record, "stop_lat", parse.parse_latitude)
                lon = self.strict_optional(table, record, "stop_lon", parse.parse_longitude)
            self.stop_coords[stop_id] = (lat, lon) if lat is not None and lon is not None else None
            parent = record["parent_station"]
            if parent:
                parents.append((len(rows), record.line, parent))
            rows.append(
                [
                    self.feed_id,
                    stop_id,
                    record["stop_code"],
                    record["stop_name"],
                    record["stop_desc"],
                    lat,
                    lon,
                    record["zone_id"],
                    location_type,
                    parent,
                    self.optional(
                        table,
                        record,
                        "wheelchair_boarding",
                        lambda t: parse.parse_enum(t, range(3)),
                    ),
                    record["platform_code"],
                ]
            )
        self.raise_if_errors()
        for index, line, parent in parents:
            if parent not in self.stop_coords:
                self.warn(
                    table.name,
                    line,
                    "parent_station",
                    f"unknown parent station {parent!r} (ignored)",
                )
                rows[index][9] = ""
        with copy_into(
            models.Stop,
            (
                "feed",
                "stop_id",
                "code",
                "name",
                "desc",
                "lat",
                "lon",
                "zone_id",
                "location_type",
                "parent_station",
                "wheelchair_boarding",
                "platform_code",
            ),
        ) as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)

    def load_routes(self, table: Table) -> int:
        count = 0
        with copy_into(
            models.Route,
            (
                "feed",
                "route_id",
                "agency_id",
                "short_name",
                "long_name",
                "desc",
                "route_type",
                "url",
                "color",
                "text_color",
            ),
        ) as copy:
            for record in table:
                count += 1
                route_id = self.required(table, record, "route_id")
                if route_id in self.route_ids:
                    self.error(
                        table.name, record.line, "route_id", f"duplicate key route_id {route_id!r}"
                    )
                    continue  # the first row stands; the error aborts the import
                self.route_ids.add(route_id)
                agency_id = record["agency_id"]
                if agency_id and agency_id not in self.agency_ids:
                    self.error(
                        table.name, record.line, "agency_id", f"unknown agency {agency_id!r}"
                    )
                elif not agency_id and len(self.agency_ids) > 1:
                    self.error(
                        table.name,
                        record.line,
                        "agency_id",
                        "required when the feed has several agencies",
                    )
                route_type = self.required(
                    table, record, "route_type", lambda t: parse.parse_int(t, minimum=0)
                )
                copy.write_row(
                    (
                        self.feed_id,
                        route_id or "",
                        agency_id,
                        record["route_short_name"],
                        record["route_long_name"],
                        record["route_desc"],
                        route_type or 0,
                        record["route_url"],
                        record["route_color"],
                        record["route_text_color"],
                    )
                )
        return count

    def load_calendar(self, table: Table) -> int:
        count = 0
        seen: set[str] = set()
        flag = lambda t: parse.parse_enum(t, (0, 1))  # noqa: E731
        with copy_into(
            models.Calendar, ("feed", "service_id", *WEEKDAY_COLUMNS, "start_date", "end_date")
        ) as copy:
            for record in table:
                count += 1
                service_id = self.required(table, record, "service_id")
                if service_id in seen:
                    self.error(
                        table.name,
                        record.line,
                        "service_id",
                        f"duplicate key service_id {service_id!r}",
                    )
                    continue  # the first row stands; the error aborts the import
                seen.add(service_id)
                days = [self.required(table, record, day, flag) for day in WEEKDAY_COLUMNS]
                start = self.required(table, record, "start_date", parse.parse_date)
                end = self.required(table, record, "end_date", parse.parse_date)
                if start and end:
                    if end < start:
                        self.error(
                            table.name,
                            record.line,
                            "end_date",
                            f"end_date {end:%Y%m%d} is before start_date {start:%Y%m%d}",
                        )
                    self.dates += (start, end)
                copy.write_row(
                    (
                        self.feed_id,
                        service_id or "",
                        *(bool(d) for d in days),
                        start or dt.date.min,
                        end or dt.date.min,
                    )
                )
        self.service_ids |= seen
        return count

    def load_calendar_dates(self, table: Table) -> int:
        count = 0
        seen: set[tuple[str, dt.date]] = set()
        with copy_into(
            models.CalendarDate, ("feed", "service_id", "date", "exception_type")
        ) as copy:
            for record in table:
                count += 1
                service_id = self.required(table, record, "service_id")
                date = self.required(table, record, "date", parse.parse_date)
                exception_type = self.required(
                    table, record, "exception_type", lambda t: parse.parse_enum(t, (1, 2))
                )
                if (service_id, date) in seen:
                    self.error(
                        table.name,
                        record.line,
                        "date",
                        f"duplicate key (service_id, date) ({service_id!r}, {date:%Y%m%d})",
                    )
                    continue  # the first row stands; the error aborts the import
                seen.add((service_id, date))
                if date and exception_type == 1:
                    self.dates.append(date)
                copy.write_row(
                    (self.feed_id, service_id or "", date or dt.date.min, exception_type or 1)
                )
        self.service_ids |= {service_id for service_id, _ in seen}
        return count

    def load_shapes(self, table: Table) -> int:
        points: dict[str, list[tuple]] = defaultdict(list)
        count = 0
        for record in table:
            count += 1
            shape_id = self.required(table, record, "shape_id")
            sequence = self.required(
                table, record, "shape_pt_sequence", lambda t: parse.parse_int(t, minimum=0)
            )
            lat = self.required(table, record, "shape_pt_lat", parse.parse_latitude)
            lon = self.required(table, record, "shape_pt_lon", parse.parse_longitude)
            dist = self.optional(
                table, record, "shape_dist_traveled", parse.parse_non_negative_float
            )
            points[shape_id].append((sequence, lat, lon, dist, record.line))
        self.raise_if_errors()
        with copy_into(
            models.ShapePoint,
            ("feed", "shape_id", "sequence", "lat", "lon", "distance_m", "shape_dist_traveled"),
        ) as copy:
            for shape_id, shape_points in points.items():
                shape_points.sort(key=lambda p: p[0])
                for previous, point in itertools.pairwise(shape_points):
                    if previous[0] == point[0]:
                        self.error(
                            table.name,
                            point[4],
                            "shape_pt_sequence",
                            f"duplicate key (shape_id, shape_pt_sequence) "
                            f"({shape_id!r}, {point[0]}), first at line {previous[4]}",
                        )
                if self.errors:
                    continue  # nothing more is written: the import will abort after this file
                projection = projection_around([(p[1], p[2]) for p in shape_points])
                xy = [projection.to_xy(p[1], p[2]) for p in shape_points]
                cumulative = 0.0
                for i, point in enumerate(shape_points):
                    if i:
                        cumulative += math.hypot(xy[i][0] - xy[i - 1][0], xy[i][1] - xy[i - 1][1])
                    copy.write_row(
                        (self.feed_id, shape_id, point[0], point[1], point[2], cumulative, point[3])
                    )
                try:
                    polyline = Polyline.from_xy(xy)
                except ValueError:
                    self.warn(
                        table.name,
                        shape_points[0][4],
                        "shape_id",
                        f"shape {shape_id!r} has fewer than two distinct points "
                        "(no distances along it)",
                    )
                    polyline = None
                self.shapes[shape_id] = _Shape(polyline, projection)
        return count

    def load_trips(self, table: Table) -> int:
        direction = lambda t: parse.parse_enum(t, (0, 1))  # noqa: E731
        three_way = lambda t: parse.parse_enum(t, range(3))  # noqa: E731
        for record in table:
            trip_id = self.required(table, record, "trip_id")
            if trip_id is None:
                continue
            if trip_id in self.trips:
                self.error(table.name, record.line, "trip_id", f"duplicate key trip_id {trip_id!r}")
            route_id = self.required(table, record, "route_id")
            if route_id is not None and route_id not in self.route_ids:
                self.error(table.name, record.line, "route_id", f"unknown route {route_id!r}")
            service_id = self.required(table, record, "service_id")
            if service_id is not None and service_id not in self.service_ids:
                self.error(
                    table.name,
                    record.line,
                    "service_id",
                    f"unknown service {service_id!r} (not in calendar or calendar_dates)",
                )
            shape_id = record["shape_id"]
            if shape_id and shape_id not in self.shapes:
                self.error(table.name, record.line, "shape_id", f"unknown shape {shape_id!r}")
            self.trip_shape[trip_id] = shape_id
            self.trips[trip_id] = [
                self.feed_id,
                trip_id,
                route_id,
                service_id,
                record["trip_headsign"],
                record["trip_short_name"],
                self.optional(table, record, "direction_id", direction),
                record["block_id"],
                shape_id,
                self.optional(table, record, "wheelchair_accessible", three_way),
                self.optional(table, record, "bikes_allowed", three_way),
                None,
                None,
                0,
            ]
        return len(self.trips)

    def load_stop_times(self, table: Table) -> int:
        by_trip: dict[str, list[_ParsedStopTime]] = defaultdict(list)
        boarding = lambda t: parse.parse_enum(t, range(4))  # noqa: E731
        flag = lambda t: parse.parse_enum(t, (0, 1))  # noqa: E731
        sequence_of = self.reader(
            table,
            "stop_sequence",
            lambda t: parse.parse_int(t, minimum=0),
            problem=self.error,
            required=True,
        )
        arrival_of = self.reader(table, "arrival_time", parse.parse_time, problem=self.error)
        departure_of = self.reader(table, "departure_time", parse.parse_time, problem=self.error)
        pickup_of = self.reader(table, "pickup_type", boarding, default=0)
        drop_off_of = self.reader(table, "drop_off_type", boarding, default=0)
        timepoint_of = self.reader(table, "timepoint", flag)
        shape_dist_of = self.reader(table, "shape_dist_traveled", parse.parse_non_negative_float)
        trip_index, stop_index = table.index("trip_id"), table.index("stop_id")
        headsign_index = table.index("stop_headsign")
        trips, stops = self.trips, self.stop_coords
        count = 0
        for record in table:
            count += 1
            values = record.values
            trip_id = values[trip_index].strip()
            if trip_id not in trips:
                self.error(
                    table.name,
                    record.line,
                    "trip_id",
                    f"unknown trip {trip_id!r}" if trip_id else "required value is empty",
                )
            stop_id = values[stop_index].strip()
            if stop_id not in stops:
                self.error(
                    table.name,
                    record.line,
                    "stop_id",
                    f"unknown stop {stop_id!r}" if stop_id else "required value is empty",
                )
            by_trip[trip_id].append(
                _ParsedStopTime(
                    sequence_of(record),
                    record.line,
                    stop_id,
                    arrival_of(record),
                    departure_of(record),
                    values[headsign_index].strip(),
                    pickup_of(record),
                    drop_off_of(record),
                    timepoint_of(record),
                    shape_dist_of(record),
                )
            )
        self.raise_if_errors()
        with copy_into(models.StopTime, STOP_TIME_FIELDS) as copy:
            for trip_id, stop_times in by_trip.items():
                for row in self.finish_trip(table, trip_id, stop_times):
                    copy.write_row(row)
        self.raise_if_errors()
        for trip_id, row in self.trips.items():
            if row[-1] == 0:
                self.warn("trips.txt", None, "trip_id", f"trip {trip_id!r} has no stop times")
        with copy_into(models.Trip, TRIP_FIELDS) as copy:
            for row in self.trips.values():
                copy.write_row(row)
        return count

    def finish_trip(self, table: Table, trip_id: str, stop_times: list[_ParsedStopTime]):
        """Order a trip's stop times, fill its times and distances; yield its COPY rows."""
        stop_times.sort(key=lambda s: s.sequence)
        for previous, current in itertools.pairwise(stop_times):
            if previous.sequence == current.sequence:
                self.error(
                    table.name,
                    current.line,
                    "stop_sequence",
                    f"duplicate key (trip_id, stop_sequence) ({trip_id!r}, "
                    f"{current.sequence}), first at line {previous.line}",
                )
                return
        for end in (stop_times[0], stop_times[-1]):
            if end.arrival is None and end.departure is None:
                self.error(
                    table.name,
                    end.line,
                    "arrival_time",
                    "required at the first and last stop of a trip",
                )
                return
        distances = self.distances_for(trip_id, stop_times)
        arrivals, departures, exact = _filled_times(stop_times, distances)
        trip_row = self.trips[trip_id]
        trip_row[11], trip_row[12], trip_row[13] = departures[0], arrivals[-1], len(stop_times)
        feed_id = self.feed_id
        for i, s in enumerate(stop_times):
            timepoint = exact[i] if s.timepoint is None else bool(s.timepoint) and exact[i]
            yield (
                feed_id,
                trip_id,
                s.sequence,
                s.stop_id,
                arrivals[i],
                departures[i],
                s.headsign,
                s.pickup,
                s.drop_off,
                timepoint,
                s.shape_dist,
                distances[i] if distances else None,
            )

    def distances_for(self, trip_id: str, stop_times: list[_ParsedStopTime]) -> list[float] | None:
        """Metres along the trip's shape per stop, computed once per (shape, stop pattern)."""
        shape_id = self.trip_shape.get(trip_id)
        if not shape_id:
            return None
        pattern = (shape_id, tuple(s.stop_id for s in stop_times))
        if pattern not in self.pattern_distances:
            shape = self.shapes[shape_id]
            coords = [self.stop_coords.get(stop_id) for stop_id in pattern[1]]
            if shape.polyline is None or any(c is None for c in coords):
                self.pattern_distances[pattern] = None
            else:
                xy = [shape.projection.to_xy(lat, lon) for lat, lon in coords]
                self.pattern_distances[pattern] = stop_distances_along(shape.polyline, xy)
        return self.pattern_distances[pattern]

    def load_frequencies(self, table: Table) -> int:
        count = 0
        with copy_into(
            models.Frequency, ("feed", "trip_id", "start_s", "end_s", "headway_s", "exact_times")
        ) as copy:
            for record in table:
                count += 1
                trip_id = record["trip_id"]
                if trip_id not in self.trips:
                    self.error(table.name, record.line, "trip_id", f"unknown trip {trip_id!r}")
                start = self.required(table, record, "start_time", parse.parse_time)
                end = self.required(table, record, "end_time", parse.parse_time)
                headway = self.required(
                    table, record, "headway_secs", lambda t: parse.parse_int(t, minimum=1)
                )
                exact = self.optional(
                    table, record, "exact_times", lambda t: parse.parse_enum(t, (0, 1)), 0
                )
                if start is not None and end is not None and end <= start:
                    self.error(
                        table.name, record.line, "end_time", "end_time is not after start_time"
                    )
                copy.write_row(
                    (self.feed_id, trip_id, start or 0, end or 0, headway or 1, bool(exact))
                )
        return count

    def load_feed_info(self, table: Table) -> int:
        count = 0
        for record in table:
            count += 1
            start = self.optional(table, record, "feed_start_date", parse.parse_date)
            end = self.optional(table, record, "feed_end_date", parse.parse_date)
            if start and end:
                self.report.valid_from, self.report.valid_until = start, end
        return count


def _parse_timezone(text: str) -> str:
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise FieldError(f"unknown time zone {text!r}") from None
    return text


def _filled_times(
    stop_times: list[_ParsedStopTime], distances: list[float] | None
) -> tuple[list[int], list[int], list[bool]]:
    """Arrival and departure per stop, gaps interpolated; and which ones the feed gave."""
    arrivals: list[int | None] = []
    departures: list[int | None] = []
    for s in stop_times:
        arrival = s.arrival if s.arrival is not None else s.departure
        departure = s.departure if s.departure is not None else s.arrival
        arrivals.append(arrival)
        departures.append(departure)
    exact = [a is not None for a in arrivals]
    position = distances if distances else list(range(len(stop_times)))
    known = [i for i, a in enumerate(arrivals) if a is not None]
    for left, right in itertools.pairwise(known):
        span = position[right] - position[left]
        for i in range(left + 1, right):
            share = (position[i] - position[left]) / span if span else (i - left) / (right - left)
            value = round(departures[left] + share * (arrivals[right] - departures[left]))
            arrivals[i] = departures[i] = value
    return arrivals, departures, exact  # type: ignore[return-value]
