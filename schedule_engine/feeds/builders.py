"""Pure GTFS-Realtime builders: snapshot values → ``FeedMessage`` (VehiclePositions, TripUpdates).

Built directly with the protobuf classes (no JSON/``ParseDict`` round trip: the
benchmark measures the difference). Imports only ``gtfs_realtime_pb2``, the
standard library and ``snapshots``; called by the feed-building beat task.

Both feeds share one header and one descriptor writer: version 2.0,
FULL_DATASET, and a header timestamp that never decreases (the caller passes the
previous feed's timestamp, kept with the feed bytes in ``feed:{name}``).

One entity is the unit of failure: protobuf raises ``ValueError``/``TypeError`` on a
value its field cannot hold (an int out of its range, a None), and such an entity is
removed again and reported to ``on_skip`` while the rest of the feed is built. The
assembly (``hot_state``) already keeps values within the telemetry bounds; this is what
holds if a value slips through anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from google.transit import gtfs_realtime_pb2 as rt

from schedule_engine.feeds.snapshots import (
    EntitySkip,
    HotStateSkip,
    StopRelationship,
    StopTimeUpdateSnapshot,
    TripEntity,
    TripSnapshot,
    VehicleEntity,
    VehicleSnapshot,
)

GTFS_RT_VERSION = "2.0"
# The ``feed`` an entity skipped by a builder is reported under (``store.FeedName`` values).
VEHICLE_POSITIONS_FEED = "vehicle_positions"
TRIP_UPDATES_FEED = "trip_updates"

SkipHandler = Callable[[EntitySkip], None]

_VehiclePosition = rt.VehiclePosition
# Enum value name → number, as dicts: ``EnumTypeWrapper.Value`` is a Python call each
# time, several per entity. The snapshots' enumerations carry these names, and each is a
# StrEnum, whose member is a str equal to its name: looked up as it is (its ``.value`` is a
# Python property, read a few hundred thousand times a build). A name the protobuf lacks
# raises KeyError, which fails its entity as a ValueError would.
_TRIP_RELATIONSHIP = dict(rt.TripDescriptor.ScheduleRelationship.items())
_STOP_RELATIONSHIP = dict(rt.TripUpdate.StopTimeUpdate.ScheduleRelationship.items())
_WHEELCHAIR = dict(rt.VehicleDescriptor.WheelchairAccessible.items())
_STOP_STATUS = dict(_VehiclePosition.VehicleStopStatus.items())
_OCCUPANCY = dict(_VehiclePosition.OccupancyStatus.items())
_CONGESTION = dict(_VehiclePosition.CongestionLevel.items())
_ENTITY_FAULTS = (ValueError, TypeError, KeyError)
_STOP_SCHEDULED = rt.TripUpdate.StopTimeUpdate.SCHEDULED


def header_timestamp(now: int, previous: int | None) -> int:
    """The feed's timestamp: ``now``, but never before the previous feed's."""
    return now if previous is None or now >= previous else previous


def _new_feed(now: int, previous: int | None) -> rt.FeedMessage:
    feed = rt.FeedMessage()
    header = feed.header
    header.gtfs_realtime_version = GTFS_RT_VERSION
    header.incrementality = rt.FeedHeader.FULL_DATASET
    header.timestamp = header_timestamp(now, previous)
    return feed


def _fill_trip(descriptor: rt.TripDescriptor, trip: TripSnapshot) -> None:
    descriptor.trip_id = trip.trip_id
    descriptor.route_id = trip.route_id
    if trip.direction_id is not None:
        descriptor.direction_id = trip.direction_id
    descriptor.start_date = trip.start_date
    if trip.start_time:
        descriptor.start_time = trip.start_time
    # Set even when SCHEDULED (the proto default): consumers and validators want it explicit.
    descriptor.schedule_relationship = _TRIP_RELATIONSHIP[trip.relationship]


def _fill_vehicle(descriptor: rt.VehicleDescriptor, vehicle: VehicleSnapshot) -> None:
    descriptor.id = vehicle.vehicle_id
    if vehicle.label:
        descriptor.label = vehicle.label
    if vehicle.license_plate:
        descriptor.license_plate = vehicle.license_plate
    if vehicle.wheelchair_accessible is not None:
        descriptor.wheelchair_accessible = _WHEELCHAIR[vehicle.wheelchair_accessible]


def build_vehicle_positions(
    vehicles: Iterable[VehicleEntity],
    *,
    now: int,
    previous_timestamp: int | None = None,
    on_skip: SkipHandler | None = None,
) -> rt.FeedMessage:
    """One entity per vehicle (id: the vehicle id), with its trip when it has a run."""
    feed = _new_feed(now, previous_timestamp)
    entities = feed.entity
    for item in vehicles:
        entity = entities.add()
        try:
            _fill_vehicle_position(entity, item)
        except _ENTITY_FAULTS as error:
            del entities[-1]
            _skipped(on_skip, VEHICLE_POSITIONS_FEED, item.vehicle.vehicle_id, error)
    return feed


def _fill_vehicle_position(entity: rt.FeedEntity, item: VehicleEntity) -> None:
    entity.id = item.vehicle.vehicle_id
    vp = entity.vehicle
    _fill_vehicle(vp.vehicle, item.vehicle)
    if item.trip is not None:
        _fill_trip(vp.trip, item.trip)
    position = item.position
    vp.position.latitude = position.latitude
    vp.position.longitude = position.longitude
    if position.bearing is not None:
        vp.position.bearing = position.bearing
    if position.speed is not None:
        vp.position.speed = position.speed
    if position.odometer is not None:
        vp.position.odometer = position.odometer
    vp.timestamp = position.timestamp
    if item.stop_status is not None and item.trip is not None:
        vp.current_stop_sequence = item.stop_status.current_stop_sequence
        vp.stop_id = item.stop_status.stop_id
        vp.current_status = _STOP_STATUS[item.stop_status.status]
    if item.occupancy is not None:
        vp.occupancy_status = _OCCUPANCY[item.occupancy.status]
        if item.occupancy.percentage is not None:
            vp.occupancy_percentage = item.occupancy.percentage
    if item.congestion is not None:
        vp.congestion_level = _CONGESTION[item.congestion]


# A FeedMessage's ``entity`` is field 2, length-delimited: a message's bytes are its
# header's record followed by one record per entity, so entities encoded one by one
# (``entity_record``) and concatenated after a header (``feed_payload``) parse as a
# FeedMessage equal to one built whole.
_ENTITY_TAG = b"\x12"

EntityFill = Callable[[rt.FeedEntity, object], None]


def entity_record(
    fill: EntityFill, item: object, feed: str, entity_id: str, on_skip: SkipHandler | None
) -> bytes | None:
    """One entity as its FeedMessage record (tag, length, bytes); None (reported) if its
    values do not fit the protobuf, as an entity the builders above leave out."""
    entity = rt.FeedEntity()
    try:
        fill(entity, item)
    except _ENTITY_FAULTS as error:
        _skipped(on_skip, feed, entity_id, error)
        return None
    body = entity.SerializeToString()
    return _ENTITY_TAG + _varint(len(body)) + body


def vehicle_position_record(item: VehicleEntity, on_skip: SkipHandler | None) -> bytes | None:
    """``build_vehicle_positions``'s entity for ``item``, as a record."""
    return entity_record(
        _fill_vehicle_position, item, VEHICLE_POSITIONS_FEED, item.vehicle.vehicle_id, on_skip
    )


def trip_update_record(item: TripEntity, on_skip: SkipHandler | None) -> bytes | None:
    """``build_trip_updates``'s entity for ``item``, as a record."""
    return entity_record(_fill_trip_update, item, TRIP_UPDATES_FEED, item.run_id, on_skip)


def feed_payload(now: int, previous_timestamp: int | None, records: Iterable[bytes]) -> bytes:
    """A serialised FeedMessage: the shared header, then the entity records as given."""
    header = _new_feed(now, previous_timestamp).SerializeToString()
    return header + b"".join(records)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _skipped(on_skip: SkipHandler | None, feed: str, entity_id: str, error: Exception) -> None:
    if on_skip is not None:
        on_skip(
            EntitySkip(
                feed=feed,
                key=entity_id,
                reason=HotStateSkip.BUILD_FAILED,
                detail=f"{type(error).__name__}: {error}",
            )
        )


def increasing_updates(
    updates: Iterable[StopTimeUpdateSnapshot],
) -> list[StopTimeUpdateSnapshot]:
    """Sorted by stop_sequence, one per stop, each time later than the one before.

    GTFS-RT requires strictly increasing stop_sequence and non-decreasing times;
    consumers (and the validator) treat equal times at consecutive stops as
    suspicious, so a time not after its predecessor is moved one second later. A stop
    without times (SKIPPED, NO_DATA) keeps its place and takes no part in the ordering.
    """
    rows = updates if isinstance(updates, tuple | list) else tuple(updates)
    if _already_increasing(rows):
        return list(rows)  # what the loop below returns for them, without its work
    ordered: list[StopTimeUpdateSnapshot] = []
    last_time = None
    for update in sorted(rows, key=lambda u: u.stop_sequence):
        if ordered and ordered[-1].stop_sequence == update.stop_sequence:
            continue
        arrival = update.arrival_time
        if arrival is None or update.departure_time is None:
            ordered.append(update)
            continue
        if last_time is not None and arrival <= last_time:
            arrival = last_time + 1
        departure = max(update.departure_time, arrival)
        if (arrival, departure) != (update.arrival_time, update.departure_time):
            update = StopTimeUpdateSnapshot(
                update.stop_sequence,
                update.stop_id,
                arrival,
                departure,
                update.uncertainty_s,
                update.relationship,
                update.scheduled,
            )
        ordered.append(update)
        last_time = departure
    return ordered


def _already_increasing(updates: tuple | list) -> bool:
    """Whether ``increasing_updates`` would keep every row as it is: stop sequences
    strictly increasing, each timed row arriving after the time before and departing no
    earlier than it arrives. The predictor's rows always are (their contract checks it on
    write), and a build orders a million rows at 50,000 runs."""
    last_sequence, last_time = None, None
    for update in updates:
        sequence = update.stop_sequence
        if last_sequence is not None and sequence <= last_sequence:
            return False
        last_sequence = sequence
        arrival, departure = update.arrival_time, update.departure_time
        if arrival is None or departure is None:
            continue
        if (last_time is not None and arrival <= last_time) or departure < arrival:
            return False
        last_time = departure
    return True


def build_trip_updates(
    trips: Iterable[TripEntity],
    *,
    now: int,
    previous_timestamp: int | None = None,
    on_skip: SkipHandler | None = None,
) -> rt.FeedMessage:
    """One entity per run (id: the run id) or per trip no run is behind (a dispatcher's
    operation, a block's next trip: ``TripEntity.run_id`` is its id); a CANCELED trip
    without stop time updates."""
    feed = _new_feed(now, previous_timestamp)
    entities = feed.entity
    for item in trips:
        entity = entities.add()
        try:
            _fill_trip_update(entity, item)
        except _ENTITY_FAULTS as error:
            del entities[-1]
            _skipped(on_skip, TRIP_UPDATES_FEED, item.run_id, error)
    return feed


def _fill_trip_update(entity: rt.FeedEntity, item: TripEntity) -> None:
    entity.id = item.run_id
    tu = entity.trip_update
    _fill_trip(tu.trip, item.trip)
    if item.vehicle is not None:
        _fill_vehicle(tu.vehicle, item.vehicle)
    tu.timestamp = item.timestamp
    if item.trip.cancelled:
        return  # a CANCELED trip carries no stop time updates
    # Bound once: this loop runs for every stop of every run (a million at 50,000 runs).
    add, scheduled = tu.stop_time_update.add, StopRelationship.SCHEDULED
    for update in increasing_updates(item.stop_time_updates):
        stu = add()
        stu.stop_sequence = update.stop_sequence
        if update.stop_id:
            stu.stop_id = update.stop_id
        relationship = update.relationship
        stu.schedule_relationship = (
            _STOP_SCHEDULED if relationship is scheduled else _STOP_RELATIONSHIP[relationship]
        )
        arrival_time, departure_time = update.arrival_time, update.departure_time
        if arrival_time is None or departure_time is None:
            continue  # SKIPPED or NO_DATA: no times
        # Each attribute read of a sub-message makes a wrapper object: read each once.
        arrival, departure = stu.arrival, stu.departure
        arrival.time = arrival_time
        departure.time = departure_time
        if update.scheduled:
            # A NEW trip's times are its schedule: consumers compute no delay without it.
            arrival.scheduled_time = arrival_time
            departure.scheduled_time = departure_time
        uncertainty = update.uncertainty_s
        if uncertainty is not None:
            arrival.uncertainty = uncertainty
            departure.uncertainty = uncertainty
