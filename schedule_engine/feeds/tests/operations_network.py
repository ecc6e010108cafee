"""A tiny network with a block, frequency trips and room for a dispatcher's operations, and
hot state written on it as the producers write it.

``BLOCK_FEED`` is ``schedule_engine.testing.TINY_FEED`` (route R1, stops S1-S4, New York
time) with service every day from 2026 to 2030 and:

- block B1: ``T1`` 08:00 -> 08:10 (S1..S4), then ``T2`` 08:20 -> 08:30 (layover 600 s);
- ``T3`` 09:00 -> 09:10, no block (a trip to cancel);
- ``LATE`` (24:50 -> 25:10), ``FREQ`` (every 20 min 06:00-07:00, exact times) and
  ``HEADWAY`` (every 30 min 10:00-11:00, ``exact_times=0``) as in TINY_FEED.

``write_network_run`` writes a run in progress with its claims, its vehicle (located on
the shape, with metadata) and predictions, through the contracts and ``databus.keys``.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

from databus import keys
from runs.domain.projections import trip_operations, vehicle_metadata
from runs.domain.projections.trip_operations import TripOperationRecord
from runs.domain.telemetry import stop_time_updates, trip
from schedule_engine.feeds.tests.fleet_hot_state import write_run, write_vehicle
from schedule_engine.service_days import service_day_origin
from schedule_engine.testing import TINY_FEED

TZ = ZoneInfo("America/New_York")
LAYOVER_S = 600

BLOCK_FEED: dict[str, str] = {
    **TINY_FEED,
    "calendar.txt": (
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "WK,1,1,1,1,1,1,1,20260101,20301231\n"
    ),
    "calendar_dates.txt": "service_id,date,exception_type\n",
    "trips.txt": (
        "route_id,service_id,trip_id,direction_id,shape_id,block_id\n"
        "R1,WK,T1,0,SH1,B1\n"
        "R1,WK,T2,0,SH1,B1\n"
        "R1,WK,T3,0,SH1,\n"
        "R1,WK,LATE,0,SH1,\n"
        "R1,WK,FREQ,0,SH1,\n"
        "R1,WK,HEADWAY,0,SH1,\n"
    ),
    "stop_times.txt": TINY_FEED["stop_times.txt"]
    + (
        "T2,08:20:00,08:20:00,S1,1\n"
        "T2,08:24:00,08:24:00,S2,2\n"
        "T2,08:28:00,08:28:00,S3,3\n"
        "T2,08:30:00,08:30:00,S4,4\n"
        "T3,09:00:00,09:00:00,S1,1\n"
        "T3,09:04:00,09:04:00,S2,2\n"
        "T3,09:08:00,09:08:00,S3,3\n"
        "T3,09:10:00,09:10:00,S4,4\n"
    ),
}

# GTFS seconds of the trips' stops, by trip (stop_sequence, stop_id, arrival).
SCHEDULE = {
    "T1": ((1, "S1", 8 * 3600), (2, "S2", 8 * 3600 + 150), (3, "S3", 8 * 3600 + 300),
           (4, "S4", 8 * 3600 + 600)),
    "T2": ((1, "S1", 8 * 3600 + 1200), (2, "S2", 8 * 3600 + 1440), (3, "S3", 8 * 3600 + 1680),
           (4, "S4", 8 * 3600 + 1800)),
    "T3": ((1, "S1", 9 * 3600), (2, "S2", 9 * 3600 + 240), (3, "S3", 9 * 3600 + 480),
           (4, "S4", 9 * 3600 + 600)),
}  # fmt: skip


def write_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in BLOCK_FEED.items():
            archive.writestr(name, text)
    return path


def origin(date: dt.date) -> int:
    """POSIX s of the service day's origin (GTFS times count from it)."""
    return int(service_day_origin(date, TZ).timestamp())


def yyyymmdd(date: dt.date) -> str:
    return date.strftime("%Y%m%d")


def write_network_run(
    client,
    run_id: str,
    vehicle_id: str,
    trip_id: str,
    date: dt.date,
    *,
    at: int,
    updates: tuple[tuple[int, str, int], ...],
    start_time: str = "08:00:00",
    label: str = "Bus 1",
) -> None:
    """Run ``run_id`` of ``trip_id`` on ``date`` in progress on ``vehicle_id``, its
    predictions (stop_sequence, stop_id, POSIX arrival) computed at ``at``, and marked."""
    descriptor = trip.TripDescriptor(trip_id, "R1", 0, start_time, yyyymmdd(date))
    write_run(client, run_id, vehicle_id, descriptor, state="In Progress", last_event_at=at)
    write_vehicle(client, vehicle_id, at=at - 2, lat=40.7050, lon=-74.0001)
    client.hset(
        keys.vehicle_metadata(vehicle_id),
        mapping=vehicle_metadata.validate_for_write(
            vehicle_metadata.VehicleMetadata(vehicle_id, label, "NY-1234", True)
        ),
    )
    client.set(keys.vehicle_current_run(vehicle_id), run_id)
    client.set(keys.trip_current_run(trip_id), run_id)
    client.sadd(keys.RUNS_TRACKING, run_id)
    client.sadd(keys.RUNS_IN_PROGRESS, run_id)
    client.hset(
        keys.run_stop_time_updates(run_id),
        mapping=stop_time_updates.validate_for_write(
            stop_time_updates.StopTimeUpdates(
                timestamp=at,
                updates=tuple(
                    stop_time_updates.StopTimeUpdate(seq, stop, arrival, arrival, 30)
                    for seq, stop, arrival in updates
                ),
            )
        ),
    )
    client.sadd(keys.FEED_DIRTY_RUNS, run_id)
    client.sadd(keys.FEED_DIRTY_VEHICLES, vehicle_id)


def scheduled_updates(
    trip_id: str, date: dt.date, *, late_s: int = 0, from_sequence: int = 1
) -> tuple[tuple[int, str, int], ...]:
    """The trip's stops from ``from_sequence`` on, ``late_s`` after their schedule."""
    base = origin(date)
    return tuple(
        (seq, stop, base + arrival + late_s)
        for seq, stop, arrival in SCHEDULE[trip_id]
        if seq >= from_sequence
    )


def write_operation(client, record: TripOperationRecord) -> None:
    """As the trip-operations service stores a started operation."""
    client.hset(keys.TRIP_OPERATIONS, record.operation_id, trip_operations.encode(record))


def end_operation(client, operation_id: str) -> None:
    client.hdel(keys.TRIP_OPERATIONS, operation_id)
