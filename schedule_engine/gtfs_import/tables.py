"""Which GTFS files the importer reads, in load order, and their required columns.

Data only: the loader checks presence and columns against this table before it
reads a file's records. Files not listed here (transfers.txt, fares, ...) are
part of the content hash but are not stored.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    required_columns: tuple[str, ...]
    required: bool


WEEKDAY_COLUMNS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

TABLES: tuple[TableSpec, ...] = (
    TableSpec("agency.txt", ("agency_name", "agency_url", "agency_timezone"), True),
    TableSpec("stops.txt", ("stop_id",), True),
    TableSpec("routes.txt", ("route_id", "route_type"), True),
    TableSpec("calendar.txt", ("service_id", *WEEKDAY_COLUMNS, "start_date", "end_date"), False),
    TableSpec("calendar_dates.txt", ("service_id", "date", "exception_type"), False),
    TableSpec(
        "shapes.txt", ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"), False
    ),
    TableSpec("trips.txt", ("route_id", "service_id", "trip_id"), True),
    TableSpec("stop_times.txt", ("trip_id", "stop_id", "stop_sequence"), True),
    TableSpec("frequencies.txt", ("trip_id", "start_time", "end_time", "headway_secs"), False),
    TableSpec("feed_info.txt", ("feed_publisher_name",), False),
)

SPECS = {spec.name: spec for spec in TABLES}

# GTFS requires one of the two calendar files.
CALENDAR_FILES = ("calendar.txt", "calendar_dates.txt")
