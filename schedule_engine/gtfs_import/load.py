"""Load one GTFS feed into the tables of one `Feed` version: the stages, then COPY.

`FeedLoader.load()` runs inside the caller's transaction (the import service): it
reads the files in dependency order (`tables`), types each record's values (`parse`,
`fields`), checks formats and references as it streams and the rules that span records
(`validate`), derives the distances and missing times (`geometry`), and writes the rows
with binary COPY (`bulk_copy`). Errors are collected with their file, line and column
(`errors.Problems`) and `FeedInvalid` is raised at the end of the first file that had
any, so the transaction rolls back and nothing of a broken feed is ever visible.
Tolerated problems (a bad optional value, an unknown parent station) are kept as
warnings. The only stage that imports Django (the models, the connection).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from functools import partial

from schedule_engine import models
from schedule_engine.gtfs_import import fields as parse
from schedule_engine.gtfs_import import validate
from schedule_engine.gtfs_import.bulk_copy import copy_into
from schedule_engine.gtfs_import.errors import FeedInvalid, FeedProblem, Problems
from schedule_engine.gtfs_import.geometry import (
    PatternDistances,
    ShapeGeometry,
    filled_times,
    shape_measured,
)
from schedule_engine.gtfs_import.parse import FieldReader, ParsedStopTime, parse_timezone
from schedule_engine.gtfs_import.source import FeedSource, Record, Table
from schedule_engine.gtfs_import.tables import TABLES, WEEKDAY_COLUMNS

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


@dataclass
class LoadReport:
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[FeedProblem] = field(default_factory=list)
    timezone: str = ""
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None


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
        self.problems = Problems()
        self.report = LoadReport(warnings=self.problems.warnings)
        # The stages' verbs under short names: the table readers below use them per value.
        self.error, self.warn = self.problems.error, self.problems.warn
        self.raise_if_errors = self.problems.raise_if_errors
        values = FieldReader(self.problems)
        self.required, self.optional = values.required, values.optional
        self.strict_optional, self.reader = values.strict_optional, values.column
        self.agency_ids: set[str] = set()
        self.stop_coords: dict[str, tuple[float, float] | None] = {}
        self.route_ids: set[str] = set()
        self.service_ids: set[str] = set()
        self.dates: list[dt.date] = []
        self.shapes: dict[str, ShapeGeometry] = {}
        self.trips: dict[str, list] = {}
        self.trip_shape: dict[str, str] = {}
        self.pattern_distances = PatternDistances(self.shapes, self.stop_coords)

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
                    raise FeedInvalid(validate.missing_columns(spec.name, missing))
                count = steps[spec.name](table)
            self.raise_if_errors()
            self.report.counts[spec.name] = count
            self.progress(f"{spec.name}: {count:,} rows in {time.perf_counter() - started:.2f} s")
        if self.dates and self.report.valid_from is None:
            self.report.valid_from, self.report.valid_until = min(self.dates), max(self.dates)
        return self.report

    def check_files(self) -> None:
        problems = validate.missing_files(self.source.has)
        if problems:
            raise FeedInvalid(problems)

    def is_duplicate(
        self, table: Table, record: Record, column: str, value: object, seen: Container
    ) -> bool:
        """Whether the record's key ``value`` was in an earlier row; if so it is reported,
        which fails the import."""
        if value not in seen:
            return False
        self.error(table.name, record.line, column, f"duplicate key {column} {value!r}")
        return True

    def unknown_key(self, table: Table, record: Record, column: str, value: str) -> None:
        """Reports a reference to a key no earlier table defines (or an empty one)."""
        what = column.removesuffix("_id")
        self.error(
            table.name,
            record.line,
            column,
            f"unknown {what} {value!r}" if value else "required value is empty",
        )

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
                if self.is_duplicate(table, record, "agency_id", agency_id, self.agency_ids):
                    continue  # the first row stands; the error aborts the import
                self.agency_ids.add(agency_id)
                name = self.required(table, record, "agency_name")
                url = self.required(table, record, "agency_url")
                timezone = self.required(table, record, "agency_timezone", parse_timezone)
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
            # Reported, and read on: the import fails, with this row's other problems too.
            self.is_duplicate(table, record, "stop_id", stop_id, self.stop_coords)
            location_type = self.optional(
                table, record, "location_type", lambda t: parse.parse_enum(t, range(5)), 0
            )
            if location_type in validate.LOCATED_TYPES:
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
                if self.is_duplicate(table, record, "route_id", route_id, self.route_ids):
                    continue  # the first row stands; the error aborts the import
                self.route_ids.add(route_id)
                agency_id = record["agency_id"]
                if agency_id and agency_id not in self.agency_ids:
                    self.unknown_key(table, record, "agency_id", agency_id)
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
                if self.is_duplicate(table, record, "service_id", service_id, seen):
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
                for problem in validate.duplicate_shape_points(table.name, shape_id, shape_points):
                    self.problems.add_error(problem)
                if self.problems.errors:
                    continue  # nothing more is written: the import will abort after this file
                cumulative, geometry = shape_measured([(p[1], p[2]) for p in shape_points])
                for point, metres in zip(shape_points, cumulative, strict=True):
                    copy.write_row(
                        (self.feed_id, shape_id, point[0], point[1], point[2], metres, point[3])
                    )
                if geometry.polyline is None:
                    self.warn(
                        table.name,
                        shape_points[0][4],
                        "shape_id",
                        f"shape {shape_id!r} has fewer than two distinct points "
                        "(no distances along it)",
                    )
                self.shapes[shape_id] = geometry
        return count

    def load_trips(self, table: Table) -> int:
        direction = lambda t: parse.parse_enum(t, (0, 1))  # noqa: E731
        three_way = lambda t: parse.parse_enum(t, range(3))  # noqa: E731
        for record in table:
            trip_id = self.required(table, record, "trip_id")
            if trip_id is None:
                continue
            # Reported, and read on: the import fails, with this row's other problems too.
            self.is_duplicate(table, record, "trip_id", trip_id, self.trips)
            route_id = self.required(table, record, "route_id")
            if route_id is not None and route_id not in self.route_ids:
                self.unknown_key(table, record, "route_id", route_id)
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
                self.unknown_key(table, record, "shape_id", shape_id)
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
        by_trip: dict[str, list[ParsedStopTime]] = defaultdict(list)
        boarding = lambda t: parse.parse_enum(t, range(4))  # noqa: E731
        flag = lambda t: parse.parse_enum(t, (0, 1))  # noqa: E731
        sequence_of = self.reader(
            table,
            "stop_sequence",
            lambda t: parse.parse_int(t, minimum=0),
            strict=True,
            required=True,
        )
        arrival_of = self.reader(table, "arrival_time", parse.parse_time, strict=True)
        departure_of = self.reader(table, "departure_time", parse.parse_time, strict=True)
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
            if trip_id not in trips:  # checked inline: the method is called only on an error
                self.unknown_key(table, record, "trip_id", trip_id)
            stop_id = values[stop_index].strip()
            if stop_id not in stops:
                self.unknown_key(table, record, "stop_id", stop_id)
            by_trip[trip_id].append(
                ParsedStopTime(
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

    def finish_trip(self, table: Table, trip_id: str, stop_times: list[ParsedStopTime]):
        """Order a trip's stop times, fill its times and distances; yield its COPY rows."""
        stop_times.sort(key=lambda s: s.sequence)
        problem = validate.trip_stop_times_problem(table.name, trip_id, stop_times)
        if problem is not None:
            self.problems.add_error(problem)
            return
        distances = self.distances_for(trip_id, stop_times)
        arrivals, departures, exact = filled_times(stop_times, distances)
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

    def distances_for(self, trip_id: str, stop_times: list[ParsedStopTime]) -> list[float] | None:
        """Metres along the trip's shape per stop (None: the trip has no usable shape)."""
        shape_id = self.trip_shape.get(trip_id)
        if not shape_id:
            return None
        return self.pattern_distances.along(shape_id, tuple(s.stop_id for s in stop_times))

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
