"""Pure values for lifecycle and detection tests: a straight trip, snapshots, contexts."""

from __future__ import annotations

import dataclasses

from runs.domain.geometry import Polyline, TripGeometry, projection_around, stop_distances_along
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.snapshot import EventContext, RunSnapshot, ScheduledTripFacts
from runs.domain.lifecycle.states import RunState
from runs.domain.telemetry.position import Position

NOW = 1_780_000_000.0
# A trip due east along a parallel: four stops, about 330 m apart.
STOPS = (
    ("S1", 9.9300, -84.0900),
    ("S2", 9.9300, -84.0870),
    ("S3", 9.9300, -84.0840),
    ("S4", 9.9300, -84.0810),
)


def straight_trip_geometry(trip_id: str = "T1", shape_id: str = "SH1") -> TripGeometry:
    points = [(lat, lon) for _, lat, lon in STOPS]
    projection = projection_around(points)
    xy = [projection.to_xy(lat, lon) for lat, lon in points]
    polyline = Polyline.from_xy(xy)
    return TripGeometry(
        trip_id=trip_id,
        shape_id=shape_id,
        projection=projection,
        polyline=polyline,
        stop_sequences=tuple(range(1, len(STOPS) + 1)),
        stop_ids=tuple(stop_id for stop_id, _, _ in STOPS),
        stop_distances_m=tuple(stop_distances_along(polyline, xy)),
    )


def scheduled_trip(**changes) -> ScheduledTripFacts:
    facts = ScheduledTripFacts(
        trip_id="T1",
        route_id="R1",
        direction_id=0,
        shape_id="SH1",
        feed_id="1",
        stop_ids=tuple(stop_id for stop_id, _, _ in STOPS),
    )
    return dataclasses.replace(facts, **changes)


def position(
    lat: float = STOPS[1][1],
    lon: float = STOPS[1][2],
    *,
    speed: float | None = 5.0,
    timestamp: float = NOW - 1,
    vehicle_id: str = "V1",
) -> Position:
    return Position(
        vehicle_id=vehicle_id,
        latitude=lat,
        longitude=lon,
        timestamp=int(timestamp),
        received_at=timestamp,
        speed=speed,
    )


def at_terminal() -> Position:
    return position(STOPS[-1][1], STOPS[-1][2], speed=0.0)


def snapshot(state: RunState = RunState.REQUESTED, **changes) -> RunSnapshot:
    base = RunSnapshot(
        run_id="run-1",
        state=state,
        vehicle_id="V1",
        operator_id="7",
        route_id="R1",
        trip_id="T1",
        shape_id="SH1",
        direction_id=0,
        scheduled_trip=scheduled_trip(),
        position=position(),
        last_seen=NOW - 1,
        geometry=straight_trip_geometry(),
        # The matcher has followed the vehicle to the end of its trip; position decides.
        progressed_m=straight_trip_geometry().stop_distances_m[-1],
    )
    return dataclasses.replace(base, **changes)


def context(role: ActorRole = ActorRole.DISPATCHER, **changes) -> EventContext:
    base = EventContext(actor_role=role, now=NOW, details={"stop_id": "S2"})
    return dataclasses.replace(base, **changes)
