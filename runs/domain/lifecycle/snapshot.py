"""The frozen values a lifecycle decision is made from.

``RunSnapshot`` is what the run is (its row, the schedule's view of its trip, who
else claims its resources, its latest telemetry); ``EventContext`` is who asks and
with what details. ``runs.services.snapshot`` builds both; guards only read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runs.domain.geometry import TripGeometry
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.states import RunState
from runs.domain.lifecycle.thresholds import DEFAULT_THRESHOLDS, Thresholds
from runs.domain.telemetry.position import Position


@dataclass(frozen=True, slots=True)
class ScheduledTripFacts:
    """The run's trip as the current feed has it (absent from the feed: ``None``)."""

    trip_id: str
    route_id: str
    direction_id: int | None
    shape_id: str
    feed_id: str
    stop_ids: tuple[str, ...]  # in stop_sequence order; the last one is the terminal
    start_time: str = ""  # "HH:MM:SS" of the first departure


@dataclass(frozen=True, slots=True)
class ClaimHolders:
    """Other runs (ids) that currently hold the run's vehicle, trip or operator, and, for a
    change of vehicle, the vehicle asked for."""

    vehicle: tuple[str, ...] = ()
    trip: tuple[str, ...] = ()
    operator: tuple[str, ...] = ()
    requested_vehicle: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    run_id: str
    state: RunState
    vehicle_id: str
    operator_id: str | None
    route_id: str
    trip_id: str
    shape_id: str
    direction_id: int | None
    scheduled_trip: ScheduledTripFacts | None = None
    claims: ClaimHolders = field(default_factory=ClaimHolders)
    position: Position | None = None
    last_seen: float | None = None  # POSIX s of the latest telemetry of the run's vehicle
    geometry: TripGeometry | None = None
    progressed_m: float | None = None  # furthest distance along the trip the matcher reached
    trip_cancelled: bool = False  # a dispatcher's cancellation of the trip that day is in force


@dataclass(frozen=True, slots=True)
class EventContext:
    actor_role: ActorRole
    now: float  # POSIX seconds
    actor_operates_run: bool = False  # the acting operator is the run's operator
    details: Mapping[str, object] = field(default_factory=dict)
    thresholds: Thresholds = DEFAULT_THRESHOLDS
