"""Hand-written hot state for the publishing tests: a small fleet written as the producers do.

Every hash goes through its contract's ``validate_for_write`` and every key through
``databus.keys``, so the tests read what the ingress, lifecycle and progression
producers would have written. ``write_fleet`` writes the standard fleet:

- run 101 (vehicle bus-1) in progress, with stop status, congestion and predictions;
- run 102 cancelled (in ``runs:canceled`` until an hour from now);
- run 103 cancelled long ago (its score has passed: no longer published);
- bus-9, a vehicle with a position and no run.
"""

from __future__ import annotations

from dataclasses import dataclass

from databus import keys
from runs.domain.telemetry import (
    congestion_level,
    occupancy,
    position,
    stop_time_updates,
    trip,
    vehicle_stop_status,
)

TRIP_101 = trip.TripDescriptor(
    trip_id="T-101", route_id="R1", direction_id=0, start_time="10:30:00", start_date="20261122"
)
TRIP_102 = trip.TripDescriptor(
    trip_id="T-102", route_id="R1", direction_id=1, start_time="11:00:00", start_date="20261122"
)
TRIP_103 = trip.TripDescriptor(
    trip_id="T-103", route_id="R2", direction_id=0, start_time="06:00:00", start_date="20261121"
)


@dataclass(frozen=True)
class Fleet:
    now: int
    in_progress_run: str = "101"
    canceled_run: str = "102"
    expired_canceled_run: str = "103"
    vehicle_on_run: str = "bus-1"
    vehicle_without_run: str = "bus-9"


def write_vehicle(
    client,
    vehicle_id: str,
    *,
    at: int,
    lat: float = 9.93,
    lon: float = -84.08,
    percentage: int | None = None,
    label: str | None = None,
) -> None:
    client.hset(
        keys.vehicle_position(vehicle_id),
        mapping=position.validate_for_write(
            position.Position(vehicle_id, lat, lon, at, at + 0.5, bearing=90.0, speed=8.5)
        ),
    )
    client.sadd(keys.VEHICLES_LOCATED, vehicle_id)  # as the ingest's batch does
    if percentage is not None:
        client.hset(
            keys.vehicle_occupancy(vehicle_id),
            mapping=occupancy.validate_for_write(
                occupancy.Occupancy(vehicle_id, at, at + 0.5, percentage=percentage)
            ),
        )
    if label is not None:
        client.hset(
            keys.vehicle_metadata(vehicle_id),
            mapping={
                "id": vehicle_id,
                "label": label,
                "license_plate": "SJB-1234",
                "wheelchair_accessible": "1",
            },
        )


def write_run(
    client,
    run_id: str,
    vehicle_id: str,
    descriptor: trip.TripDescriptor,
    *,
    state: str,
    last_event_at: float,
) -> None:
    client.hset(
        keys.run(run_id),
        mapping={
            "run_id": run_id,
            "vehicle_id": vehicle_id,
            "trip_id": descriptor.trip_id,
            "run_lifecycle_state": state,
            "last_event_at": str(last_event_at),
        },
    )
    client.hset(keys.run_trip(run_id), mapping=trip.validate_for_write(descriptor))


def write_progression(client, run_id: str, *, at: int) -> None:
    client.hset(
        keys.run_vehicle_stop_status(run_id),
        mapping=vehicle_stop_status.validate_for_write(
            vehicle_stop_status.VehicleStopStatus(
                vehicle_stop_status.StopStatusCode.IN_TRANSIT_TO, at, 3, "S3"
            )
        ),
    )
    client.hset(
        keys.run_congestion_level(run_id),
        mapping=congestion_level.validate_for_write(
            congestion_level.CongestionLevel(
                congestion_level.CongestionLevelCode.RUNNING_SMOOTHLY, at
            )
        ),
    )
    updates = (
        stop_time_updates.StopTimeUpdate(2, "S2", at - 60, at - 50, None, observed=True),
        stop_time_updates.StopTimeUpdate(3, "S3", at + 60, at + 70, 30),
        stop_time_updates.StopTimeUpdate(5, "S5", at + 300, None, 90),
    )
    client.hset(
        keys.run_stop_time_updates(run_id),
        mapping=stop_time_updates.validate_for_write(
            stop_time_updates.StopTimeUpdates(timestamp=at, updates=updates)
        ),
    )


def write_fleet(client, now: int) -> Fleet:
    fleet = Fleet(now=now)
    write_vehicle(client, fleet.vehicle_on_run, at=now - 5, percentage=35, label="Bus 1")
    write_run(
        client,
        fleet.in_progress_run,
        fleet.vehicle_on_run,
        TRIP_101,
        state="In Progress",
        last_event_at=now - 600,
    )
    client.set(keys.vehicle_current_run(fleet.vehicle_on_run), fleet.in_progress_run)
    client.sadd(keys.RUNS_TRACKING, fleet.in_progress_run)
    client.sadd(keys.RUNS_IN_PROGRESS, fleet.in_progress_run)
    write_progression(client, fleet.in_progress_run, at=now - 5)

    write_run(
        client, fleet.canceled_run, "bus-2", TRIP_102, state="Cancelled", last_event_at=now - 120
    )
    client.zadd(keys.RUNS_CANCELED, {fleet.canceled_run: now + 3600})
    write_run(
        client,
        fleet.expired_canceled_run,
        "bus-3",
        TRIP_103,
        state="Cancelled",
        last_event_at=now - 90_000,
    )
    client.zadd(keys.RUNS_CANCELED, {fleet.expired_canceled_run: now - 10})

    write_vehicle(client, fleet.vehicle_without_run, at=now - 8, lat=9.94, lon=-84.07)
    return fleet
