"""Frozen snapshot values the feed builders read: one vehicle, one run's trip and predictions.

Filled by the feed-building shell from hot state (``vehicle:*``, ``run:*``); the
builders in ``builders.py`` turn them into protobuf. Enumerations carry the
GTFS-RT protobuf value names, so the builders set them without a lookup table.
``EntitySkip`` is what a reader of hot state reports about a record it could not use
(the assembly, the builders, the WebSocket snapshot, the API); ``skips`` counts and
logs it. Imports only the standard library, msgspec and the stop-status code of the
telemetry contract.

The values are frozen msgspec structs, not frozen dataclasses: a build makes several per
run and one per stop of every run (100,000 at 5,000 runs), and a frozen dataclass's
``object.__setattr__`` per field was a fifth of a whole build. ``msgspec.structs.replace``
derives one from another.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import msgspec

from runs.domain.telemetry.vehicle_stop_status import StopStatusCode


class WheelchairAccessible(StrEnum):
    NO_VALUE = "NO_VALUE"
    UNKNOWN = "UNKNOWN"
    WHEELCHAIR_ACCESSIBLE = "WHEELCHAIR_ACCESSIBLE"
    WHEELCHAIR_INACCESSIBLE = "WHEELCHAIR_INACCESSIBLE"


class OccupancyStatusCode(StrEnum):
    """All nine GTFS-RT values (the telemetry contract's ``OccupancyStatus`` is the five
    databus derives from a load)."""

    EMPTY = "EMPTY"
    MANY_SEATS_AVAILABLE = "MANY_SEATS_AVAILABLE"
    FEW_SEATS_AVAILABLE = "FEW_SEATS_AVAILABLE"
    STANDING_ROOM_ONLY = "STANDING_ROOM_ONLY"
    CRUSHED_STANDING_ROOM_ONLY = "CRUSHED_STANDING_ROOM_ONLY"
    FULL = "FULL"
    NOT_ACCEPTING_PASSENGERS = "NOT_ACCEPTING_PASSENGERS"
    NO_DATA_AVAILABLE = "NO_DATA_AVAILABLE"
    NOT_BOARDABLE = "NOT_BOARDABLE"


class TripRelationship(StrEnum):
    """``TripDescriptor.ScheduleRelationship`` values databus publishes.

    SCHEDULED: a trip of the GTFS run as scheduled (or with the stops its SKIPPED
    updates name); CANCELED: it does not run; NEW: an extra trip outside the GTFS (a
    dispatcher's added trip; ADDED is the deprecated spelling some consumers still
    need); UNSCHEDULED: an instance of a frequency-based trip with ``exact_times=0``,
    which has no schedule to be late against (every stop time update UNSCHEDULED too).
    """

    SCHEDULED = "SCHEDULED"
    ADDED = "ADDED"
    UNSCHEDULED = "UNSCHEDULED"
    CANCELED = "CANCELED"
    NEW = "NEW"


class StopRelationship(StrEnum):
    """``StopTimeUpdate.ScheduleRelationship``: SKIPPED carries no times (the spec makes
    them optional, and a time at a stop the bus does not serve only misleads);
    NO_DATA none either; UNSCHEDULED is the only one allowed in an UNSCHEDULED trip."""

    SCHEDULED = "SCHEDULED"
    SKIPPED = "SKIPPED"
    NO_DATA = "NO_DATA"
    UNSCHEDULED = "UNSCHEDULED"


class CongestionLevel(StrEnum):
    UNKNOWN_CONGESTION_LEVEL = "UNKNOWN_CONGESTION_LEVEL"
    RUNNING_SMOOTHLY = "RUNNING_SMOOTHLY"
    STOP_AND_GO = "STOP_AND_GO"
    CONGESTION = "CONGESTION"
    SEVERE_CONGESTION = "SEVERE_CONGESTION"


class VehicleSnapshot(msgspec.Struct, frozen=True):
    """``VehicleDescriptor``: from ``vehicle:{vid}:metadata``."""

    vehicle_id: str
    label: str | None = None
    license_plate: str | None = None
    wheelchair_accessible: WheelchairAccessible | None = None


class TripSnapshot(msgspec.Struct, frozen=True):
    """``TripDescriptor`` as in the GTFS (``run:{rid}:trip``), or as a dispatcher's
    operation gives it, with the relationship it is published with."""

    trip_id: str
    route_id: str
    direction_id: int | None
    start_date: str  # YYYYMMDD
    start_time: str  # HH:MM:SS, may exceed 24:00:00
    relationship: TripRelationship = TripRelationship.SCHEDULED

    @property
    def cancelled(self) -> bool:
        return self.relationship is TripRelationship.CANCELED


class PositionSnapshot(msgspec.Struct, frozen=True):
    latitude: float
    longitude: float
    timestamp: int  # POSIX seconds of the fix
    bearing: float | None = None
    speed: float | None = None  # m/s
    odometer: float | None = None


class StopStatusSnapshot(msgspec.Struct, frozen=True):
    """``run:{rid}:vehicle_stop_status``; absent for a pre-trip vehicle (not on-route)."""

    current_stop_sequence: int
    stop_id: str
    status: StopStatusCode


class OccupancySnapshot(msgspec.Struct, frozen=True):
    status: OccupancyStatusCode
    percentage: int | None = None


class VehicleEntity(msgspec.Struct, frozen=True):
    """One VehiclePositions entity; ``run_id``/``trip`` are None for a vehicle without a run."""

    vehicle: VehicleSnapshot
    position: PositionSnapshot
    run_id: str | None = None
    trip: TripSnapshot | None = None
    stop_status: StopStatusSnapshot | None = None
    occupancy: OccupancySnapshot | None = None
    congestion: CongestionLevel | None = None


class StopTimeUpdateSnapshot(msgspec.Struct, frozen=True):
    """A predicted (or, for a stop already passed, observed) arrival and departure; a
    SKIPPED or NO_DATA stop has no times (None)."""

    stop_sequence: int
    stop_id: str
    arrival_time: int | None  # POSIX seconds
    departure_time: int | None
    uncertainty_s: int | None = None
    relationship: StopRelationship = StopRelationship.SCHEDULED
    # A NEW trip's own schedule (``StopTimeEvent.scheduled_time``: it has no GTFS row).
    scheduled: bool = False


class TripEntity(msgspec.Struct, frozen=True):
    """One TripUpdates entity: a run's trip, its vehicle and its stop time updates.
    ``run_id`` is the entity id: the run's, or one of ``entity_ids``' for an entity no
    run is behind (a dispatcher's operation, a block's next trip)."""

    run_id: str
    trip: TripSnapshot
    timestamp: int
    vehicle: VehicleSnapshot | None = None
    stop_time_updates: tuple[StopTimeUpdateSnapshot, ...] = ()


class HotStateSkip(StrEnum):
    """Why a reader of hot state left a record (and, for a required one, its entity) out.

    Label values of ``databus_feed_entities_skipped_total``: add, never rename.
    """

    BAD_POSITION = "bad_position"  # the vehicle is left out
    BAD_OCCUPANCY = "bad_occupancy"  # published without occupancy (or without the bad field)
    BAD_TRIP = "bad_trip"  # the run's trip update is left out; its vehicle goes without trip
    BAD_STOP_STATUS = "bad_stop_status"  # published without stop status
    BAD_CONGESTION = "bad_congestion"  # published without congestion level
    BAD_STOP_TIME_UPDATES = "bad_stop_time_updates"  # unreadable: the trip update is left out
    STALE_STOP_TIME_UPDATES = "stale_stop_time_updates"  # older than the bound: left out
    BAD_RUN = "bad_run"  # a run projection a snapshot could not use
    BUILD_FAILED = "build_failed"  # protobuf refused a value: the entity is left out
    BAD_TRIP_OPERATION = "bad_trip_operation"  # a dispatcher's operation unreadable: ignored


@dataclass(frozen=True, slots=True)
class EntitySkip:
    """One record a reader could not use: where (``feed``), which (``key``, the Redis key or
    entity id), why, and a human detail for the log."""

    feed: str
    key: str
    reason: HotStateSkip
    detail: str
