"""Reading a recorded AVL trace: GTFS-RT VehiclePositions flattened to CSV, one ping a row.

The columns are those of ``../shared/fixtures/wmata/avl.csv`` (``vehicle.trip.trip_id``,
``vehicle.position.latitude``, ``vehicle.timestamp``…). Numbers may be written as
floats (``36.0``), optional ones may be empty. A row that cannot be read is
reported by line number, never silently dropped.

The one reader of that file: the replay (``manage.py replay_avl``), its tests and the
offline evaluation (``benchmarks/progression.py``) all read the trace through it. Pure
(standard library only).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


class TraceError(ValueError):
    """A row of the trace cannot be read; says which and why."""


@dataclass(frozen=True, slots=True)
class TracePing:
    vehicle_id: str
    label: str
    trip_id: str
    route_id: str
    direction_id: int | None
    start_date: dt.date
    start_time: str
    latitude: float
    longitude: float
    bearing: float | None
    speed: float | None  # m/s
    timestamp: int  # POSIX seconds, as recorded
    # The agency's own stop on this ping (not replayed: the reference evaluations compare with).
    current_stop_sequence: int | None = None
    # The agency's GTFS-RT OccupancyStatus code (0 EMPTY … 8 NOT_BOARDABLE), None if empty.
    occupancy_status: int | None = None


def _optional_float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def _optional_int(text: str | None) -> int | None:
    value = _optional_float(text)
    return None if value is None else int(value)


def ping_of(row: dict[str, str]) -> TracePing:
    """One CSV row (a dict of its columns) as a ping; raises ``TraceError`` when unreadable."""
    try:
        vehicle_id = row["vehicle.vehicle.id"] or row["id"]
        return TracePing(
            vehicle_id=vehicle_id,
            label=row.get("vehicle.vehicle.label") or vehicle_id,
            trip_id=row["vehicle.trip.trip_id"],
            route_id=row.get("vehicle.trip.route_id", ""),
            direction_id=_optional_int(row.get("vehicle.trip.direction_id")),
            start_date=dt.datetime.strptime(row["vehicle.trip.start_date"], "%Y%m%d").date(),
            start_time=row.get("vehicle.trip.start_time", ""),
            latitude=float(row["vehicle.position.latitude"]),
            longitude=float(row["vehicle.position.longitude"]),
            bearing=_optional_float(row.get("vehicle.position.bearing")),
            speed=_optional_float(row.get("vehicle.position.speed")),
            timestamp=int(float(row["vehicle.timestamp"])),
            current_stop_sequence=_optional_int(row.get("vehicle.current_stop_sequence")),
            occupancy_status=_optional_int(row.get("vehicle.occupancy_status")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise TraceError(f"{type(error).__name__}: {error}") from None


def parse_trace(lines: Iterable[str]) -> Iterator[TracePing]:
    """Pings of CSV text with a header line, in file order."""
    reader = csv.DictReader(lines)
    for line_number, row in enumerate(reader, start=2):
        try:
            yield ping_of(row)
        except TraceError as error:
            raise TraceError(f"line {line_number}: {error}") from None


def read_trace(path: Path) -> list[TracePing]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(parse_trace(handle))
