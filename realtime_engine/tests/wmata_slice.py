"""A slice of the WMATA GTFS: only some trips, with every row they refer to.

End-to-end tests import the slice (a second) instead of the whole feed (230,000
stop times, ~25 s) and validate their GTFS-RT output against it: every row a
published entity can refer to (its trip, route, stops, shape, service calendar
and holiday exceptions) is copied unchanged from ``wmata/gtfs.zip``.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path


def _filtered(
    archive: zipfile.ZipFile, name: str, keep: Callable[[dict[str, str]], bool]
) -> tuple[list[str], list[dict[str, str]]]:
    with archive.open(name) as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8-sig"))
        rows = [row for row in reader if keep(row)]
        return list(reader.fieldnames or []), rows


def _csv(header: list[str], rows: Iterable[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_gtfs_slice(source: Path, trip_ids: set[str], target: Path) -> Path:
    """Write a GTFS zip at ``target`` with only ``trip_ids`` and what they reference."""
    with zipfile.ZipFile(source) as archive:
        tables = {}
        tables["trips.txt"] = _filtered(archive, "trips.txt", lambda r: r["trip_id"] in trip_ids)
        trips = tables["trips.txt"][1]
        routes = {r["route_id"] for r in trips}
        services = {r["service_id"] for r in trips}
        shapes = {r["shape_id"] for r in trips}
        tables["stop_times.txt"] = _filtered(
            archive, "stop_times.txt", lambda r: r["trip_id"] in trip_ids
        )
        stops = {r["stop_id"] for r in tables["stop_times.txt"][1]}
        tables["stops.txt"] = _filtered(archive, "stops.txt", lambda r: r["stop_id"] in stops)
        tables["routes.txt"] = _filtered(archive, "routes.txt", lambda r: r["route_id"] in routes)
        tables["shapes.txt"] = _filtered(archive, "shapes.txt", lambda r: r["shape_id"] in shapes)
        for name in ("calendar.txt", "calendar_dates.txt"):
            tables[name] = _filtered(archive, name, lambda r: r["service_id"] in services)
        tables["agency.txt"] = _filtered(archive, "agency.txt", lambda r: True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for name, (header, rows) in tables.items():
            out.writestr(name, _csv(header, rows))
    return target
