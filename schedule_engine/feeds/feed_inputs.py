"""Decide what the GTFS-RT feeds publish from the fleet's hot state, as the builders take it.

``feed_inputs_assemble`` is pure: it decodes the raw strings that
``schedule_engine.hot_state_read.fleet_read`` returns (a ``FleetHotState``) through the
contracts (``runs.domain.telemetry``, ``runs.domain.projections``) and returns the
``snapshots`` values ``builders`` take.

What is published (decided here, nowhere else):
- VehiclePositions: every vehicle with a readable position not older than
  ``vehicle_max_age_s`` (setting ``FEED_VEHICLE_MAX_AGE_S``). Its trip, stop status
  and congestion are attached when the vehicle's current run is tracking or in
  progress; a vehicle without such a run is published without a trip.
- TripUpdates: every run in ``runs:in_progress`` with a trip and stop time
  updates computed no longer than ``stop_time_update_max_age_s`` ago (setting
  ``FEED_STOP_TIME_UPDATE_MAX_AGE_S``), and every run in ``runs:canceled`` (until its
  score, POSIX s) with a trip, as a CANCELED trip. Vehicles without a run are never in
  TripUpdates.
  A dispatcher's operations (``operations``, decided from ``keys.TRIP_OPERATIONS``) add
  their own entities, and the stops a SKIP_STOPS names are SKIPPED in the TripUpdate of
  the run operating that trip on that date.
Entity timestamps are capped at ``now``: a vehicle clock slightly ahead must not
put an entity after the feed header (a GTFS-RT validator error). A vehicle descriptor
carries a label and a licence plate only where ``descriptors`` makes them public.

A stored record the contracts cannot use (unreadable, or a value outside the telemetry
bounds) is reported to ``on_skip`` with its key and left out: a bad position leaves its
vehicle out, a bad trip or stop time updates its trip update; a bad occupancy, stop
status or congestion leaves the entity without that part. The rest is assembled. Keys
named in a report come from ``databus.keys``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from msgspec.structs import replace

from databus import keys
from runs.domain.projections import run as run_projection
from runs.domain.telemetry import (
    congestion_level,
    occupancy,
    position,
    stop_time_updates,
    trip,
    vehicle_stop_status,
)
from runs.domain.telemetry.fields import StoredRead
from schedule_engine.feeds.builders import TRIP_UPDATES_FEED, VEHICLE_POSITIONS_FEED, SkipHandler
from schedule_engine.feeds.descriptors import (
    SETTINGS_DEFAULT,
    DescriptorPolicy,
    vehicle_descriptor,
)
from schedule_engine.feeds.operations import NO_OPERATIONS, Operations, with_skipped_stops
from schedule_engine.feeds.shard import Shard
from schedule_engine.feeds.skips import RecordReader
from schedule_engine.feeds.snapshots import (
    CongestionLevel,
    HotStateSkip,
    OccupancySnapshot,
    OccupancyStatusCode,
    PositionSnapshot,
    StopStatusSnapshot,
    StopTimeUpdateSnapshot,
    TripEntity,
    TripRelationship,
    TripSnapshot,
    VehicleEntity,
    VehicleSnapshot,
)
from schedule_engine.hot_state_read import FleetHotState, Hash, RunHotState, VehicleHotState

# What a build uses of a run's projection (``run:{rid}``, a dozen fields): its vehicle, and
# when a cancellation was accepted (its CANCELED trip's timestamp). Only these are read.
PROJECTION_FIELDS = (run_projection.VEHICLE_ID, run_projection.LAST_EVENT_AT)


@dataclass(frozen=True, slots=True)
class FeedInputs:
    """The builders' inputs: one entity per vehicle, one per published run, one per
    published operation that is not merged into a run's (``operations``), and the next
    trips of the runs' blocks (``next_trips``: added by the build after the schedule
    agreement, ``block_trips``)."""

    vehicles: tuple[VehicleEntity, ...]
    trips: tuple[TripEntity, ...]
    operations: tuple[TripEntity, ...] = ()
    next_trips: tuple[TripEntity, ...] = ()


def feed_inputs_assemble(
    hot: FleetHotState,
    *,
    now: int,
    vehicle_max_age_s: float,
    stop_time_update_max_age_s: float,
    on_skip: SkipHandler | None = None,
    operations: Operations = NO_OPERATIONS,
    descriptors: DescriptorPolicy = SETTINGS_DEFAULT,
    shard: Shard | None = None,
) -> FeedInputs:
    """The VehiclePositions and TripUpdates entities the hot state says to publish.

    A stored record that cannot be used is reported to ``on_skip`` (with its key) and
    left out; the rest is assembled. With a ``shard``, only the vehicles and runs it
    holds (and, in the first, the operations' entities): the shards together assemble
    what one call without a shard does, each record reported by exactly one of them.
    Pure apart from calling ``on_skip``.
    """
    vehicle_reader = RecordReader(VEHICLE_POSITIONS_FEED, on_skip)
    trip_reader = RecordReader(TRIP_UPDATES_FEED, on_skip)
    active = hot.tracking | hot.in_progress
    trip_reads = _TripReads()
    vehicles: list[VehicleEntity] = []
    # Every located vehicle is described, in every shard: a run's trip update names its
    # vehicle whichever shard that vehicle's own entity is in.
    vehicles_by_id = {
        state.vehicle_id: vehicle_descriptor(state.vehicle_id, state.metadata, descriptors)
        for state in hot.vehicles
    }
    for state in hot.vehicles:
        vid = state.vehicle_id
        if shard is not None and not shard.holds_vehicle(vid):
            continue
        descriptor = vehicles_by_id[vid]
        where = _fresh_position(vehicle_reader, state, now, vehicle_max_age_s)
        if where is None:
            continue
        rid = state.current_run if state.current_run in active else None
        run = hot.runs.get(rid) if rid else None
        if run is not None:
            vehicle_reader.use(
                keys.run_trip(run.run_id), trip_reads.of(run), run.trip, HotStateSkip.BAD_TRIP
            )
        run_trip = trip_reads.of(run).value if run is not None else None
        on_trip = run is not None and run_trip is not None
        vehicles.append(
            VehicleEntity(
                vehicle=descriptor,
                position=_position(where, now),
                run_id=rid if run_trip else None,
                trip=run_trip,
                stop_status=_stop_status(vehicle_reader, run) if on_trip else None,
                occupancy=_occupancy(vehicle_reader, vid, state.occupancy),
                congestion=_congestion(vehicle_reader, run) if on_trip else None,
            )
        )
    entities = []
    for rid in sorted(hot.in_progress):
        run = hot.runs.get(rid)
        if run is None or (shard is not None and not shard.holds_run(rid)):
            continue
        run_trip = trip_reader.use(
            keys.run_trip(rid), trip_reads.of(run), run.trip, HotStateSkip.BAD_TRIP
        )
        entity = _in_progress_entity(
            trip_reader, run, run_trip, vehicles_by_id, now, stop_time_update_max_age_s
        )
        if entity is not None:
            skipped = operations.skipped_stops.get((entity.trip.trip_id, entity.trip.start_date))
            if skipped:
                updates = with_skipped_stops(entity.stop_time_updates, skipped)
                entity = replace(entity, stop_time_updates=updates)
            entities.append(entity)
    for rid in sorted(hot.canceled - hot.in_progress):
        run = hot.runs.get(rid)
        if run is None or (shard is not None and not shard.holds_run(rid)):
            continue
        run_trip = trip_reader.use(
            keys.run_trip(rid), trip_reads.of(run), run.trip, HotStateSkip.BAD_TRIP
        )
        if run_trip is not None:
            entities.append(_canceled_entity(run, run_trip, now))
    return FeedInputs(
        vehicles=tuple(vehicles),
        trips=tuple(entities),
        operations=operations.entities if shard is None or shard.first else (),
    )


class _TripReads:
    """Each run's trip, read through its contract once, when first needed: a shard reads
    only the trips of its own vehicles and runs."""

    __slots__ = ("_reads",)

    def __init__(self) -> None:
        self._reads: dict[str, StoredRead[TripSnapshot]] = {}

    def of(self, run: RunHotState) -> StoredRead[TripSnapshot]:
        read = self._reads.get(run.run_id)
        if read is None:
            read = self._reads[run.run_id] = _trip(run.trip)
        return read


def vehicle_entity_refreshed(
    published: VehicleEntity,
    state: VehicleHotState,
    *,
    now: int,
    vehicle_max_age_s: float,
    on_skip: SkipHandler | None = None,
) -> VehicleEntity | None:
    """``published`` with the position and occupancy ``state`` holds now, as
    ``feed_inputs_assemble`` would assemble it when nothing else about the vehicle or its
    run changed (the caller knows that: ``schedule_engine.feeds.changes``); None when the
    position is unusable or too old."""
    reader = RecordReader(VEHICLE_POSITIONS_FEED, on_skip)
    vid = state.vehicle_id
    where = _fresh_position(reader, state, now, vehicle_max_age_s)
    if where is None:
        return None
    # Constructed, not ``replace``d: this runs for every vehicle that reported.
    return VehicleEntity(
        published.vehicle,
        _position(where, now),
        published.run_id,
        published.trip,
        published.stop_status,
        _occupancy(reader, vid, state.occupancy),
        published.congestion,
    )


def _fresh_position(
    reader: RecordReader, state: VehicleHotState, now: int, max_age_s: float
) -> position.Position | None:
    """The vehicle's stored position if usable (else reported) and at most ``max_age_s`` old."""
    where = reader.use(
        keys.vehicle_position(state.vehicle_id),
        position.read_stored(state.vehicle_id, state.position),
        state.position,
        HotStateSkip.BAD_POSITION,
    )
    if where is None or where.timestamp < now - max_age_s:
        return None
    return where


def _position(where: position.Position, now: int) -> PositionSnapshot:
    return PositionSnapshot(
        latitude=where.latitude,
        longitude=where.longitude,
        timestamp=min(where.timestamp, now),
        bearing=where.bearing,
        speed=where.speed,
        odometer=where.odometer,
    )


def _trip(fields: Hash) -> StoredRead[TripSnapshot]:
    """The GTFS TripDescriptor; unusable (None) when a field the builders need is missing."""
    if not fields:
        return StoredRead(None)
    read = trip.read_stored(fields)
    descriptor = read.value
    if descriptor is None:
        return StoredRead(None, read.bad_fields)
    if None in (
        descriptor.route_id,
        descriptor.direction_id,
        descriptor.start_date,
        descriptor.start_time,
    ):
        missing = tuple(
            name
            for name, value in (
                (trip.ROUTE_ID, descriptor.route_id),
                (trip.DIRECTION_ID, descriptor.direction_id),
                (trip.START_DATE, descriptor.start_date),
                (trip.START_TIME, descriptor.start_time),
            )
            if value is None and name not in read.bad_fields
        )
        return StoredRead(None, read.bad_fields + missing)
    return StoredRead(
        TripSnapshot(
            trip_id=descriptor.trip_id,
            route_id=descriptor.route_id,
            direction_id=descriptor.direction_id,
            start_date=descriptor.start_date,
            start_time=descriptor.start_time,
        ),
        read.bad_fields,
    )


def _run_vehicle(
    run: RunHotState, descriptors: Mapping[str, VehicleSnapshot]
) -> VehicleSnapshot | None:
    # The one field needed, read by its contract name: a whole ``from_redis`` per run (its
    # trip fields checked again) would add a tenth to the assembly of a large fleet.
    vehicle_id = run.projection.get(run_projection.VEHICLE_ID)
    if not vehicle_id:
        return None
    return descriptors.get(vehicle_id) or VehicleSnapshot(vehicle_id)


def _stop_status(reader: RecordReader, run: RunHotState) -> StopStatusSnapshot | None:
    status = reader.read(
        keys.run_vehicle_stop_status(run.run_id),
        run.stop_status,
        vehicle_stop_status.read_stored,
        HotStateSkip.BAD_STOP_STATUS,
    )
    if status is None or status.current_stop_sequence is None or not status.stop_id:
        return None
    return StopStatusSnapshot(
        current_stop_sequence=status.current_stop_sequence,
        stop_id=status.stop_id,
        status=status.current_status,
    )


# The contracts' codes as the snapshots' (the same names), looked up rather than called: an
# enum's call and its ``.value`` are Python code, run for every vehicle of a build.
_OCCUPANCY_CODES = {code: OccupancyStatusCode(code.value) for code in occupancy.OccupancyStatus}
_CONGESTION_LEVELS = {
    code: CongestionLevel(code.value) for code in congestion_level.CongestionLevelCode
}


def _occupancy(reader: RecordReader, vehicle_id: str, fields: Hash) -> OccupancySnapshot | None:
    if not fields:
        return None
    load = reader.use(
        keys.vehicle_occupancy(vehicle_id),
        occupancy.read_stored(vehicle_id, fields),
        fields,
        HotStateSkip.BAD_OCCUPANCY,
    )
    if load is None:
        return None
    return OccupancySnapshot(status=_OCCUPANCY_CODES[load.status], percentage=load.percentage)


def _congestion(reader: RecordReader, run: RunHotState) -> CongestionLevel | None:
    level = reader.read(
        keys.run_congestion_level(run.run_id),
        run.congestion,
        congestion_level.read_stored,
        HotStateSkip.BAD_CONGESTION,
    )
    return None if level is None else _CONGESTION_LEVELS[level.congestion_level]


def _stop_time_updates(
    reader: RecordReader, run: RunHotState
) -> tuple[int, tuple[StopTimeUpdateSnapshot, ...]] | None:
    stored = reader.read(
        keys.run_stop_time_updates(run.run_id),
        run.stop_time_updates,
        stop_time_updates.read_stored,
        HotStateSkip.BAD_STOP_TIME_UPDATES,
    )
    if stored is None:
        return None
    # Positional arguments and a list comprehension: this runs once per stop of every run.
    # The contract allows one time per stop (no departure at the last stop).
    updates = tuple(
        [
            StopTimeUpdateSnapshot(
                u.stop_sequence,
                u.stop_id,
                u.departure if u.arrival is None else u.arrival,
                u.arrival if u.departure is None else u.departure,
                u.uncertainty_s,
            )
            for u in stored.updates
            if u.arrival is not None or u.departure is not None
        ]
    )
    return (stored.timestamp, updates) if updates else None


def _in_progress_entity(
    reader: RecordReader,
    run: RunHotState,
    run_trip: TripSnapshot | None,
    descriptors: Mapping[str, VehicleSnapshot],
    now: int,
    max_age_s: float,
) -> TripEntity | None:
    # Without predictions there is nothing to say about the trip: GTFS-RT wants at
    # least one stop time update in a trip update that is not CANCELED.
    predicted = _stop_time_updates(reader, run) if run_trip else None
    if predicted is None:
        return None
    timestamp, updates = predicted
    if timestamp < now - max_age_s:
        # Matching has stopped (a worker down, a database outage): predictions made that
        # long ago are not what the vehicle is doing now, whatever the header says.
        stale_stop_time_updates_report(reader, run.run_id, timestamp, now, max_age_s)
        return None
    return TripEntity(
        run_id=run.run_id,
        trip=run_trip,
        timestamp=min(timestamp, now),
        vehicle=_run_vehicle(run, descriptors),
        stop_time_updates=updates,
    )


def stale_stop_time_updates_report(
    reader: RecordReader, run_id: str, timestamp: float, now: float, max_age_s: float
) -> None:
    """Report a trip update left out for predictions older than ``max_age_s`` (also said of
    a cached one that aged: ``tasks``)."""
    reader.report(
        keys.run_stop_time_updates(run_id),
        HotStateSkip.STALE_STOP_TIME_UPDATES,
        f"computed {now - timestamp:.0f} s ago (bound {max_age_s:.0f} s): left out",
    )


def _canceled_entity(run: RunHotState, run_trip: TripSnapshot, now: int) -> TripEntity:
    projection = run_projection.from_redis(run.run_id, run.projection)
    cancelled_at = None if projection is None else projection.last_event_at
    return TripEntity(
        run_id=run.run_id,
        trip=replace(run_trip, relationship=TripRelationship.CANCELED),
        timestamp=now if cancelled_at is None else min(int(cancelled_at), now),
    )
