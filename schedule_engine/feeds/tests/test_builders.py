"""The GTFS-RT builders: parsed bytes, monotone header, schedule relationships, ordered updates."""

from google.transit import gtfs_realtime_pb2 as rt

from runs.domain.telemetry.vehicle_stop_status import StopStatusCode
from schedule_engine.feeds.builders import build_trip_updates, build_vehicle_positions
from schedule_engine.feeds.snapshots import (
    EntitySkip,
    HotStateSkip,
    OccupancySnapshot,
    OccupancyStatusCode,
    PositionSnapshot,
    StopRelationship,
    StopStatusSnapshot,
    StopTimeUpdateSnapshot,
    TripEntity,
    TripRelationship,
    TripSnapshot,
    VehicleEntity,
    VehicleSnapshot,
    WheelchairAccessible,
)
from schedule_engine.feeds.store import FeedName

NOW = 1_771_257_600
STU = rt.TripUpdate.StopTimeUpdate
TRIP = TripSnapshot("30095100", "D96", 1, "20260216", "10:30:00")
BUS = VehicleSnapshot("4582", "4582", "DC-123", WheelchairAccessible.WHEELCHAIR_ACCESSIBLE)
ON_ROUTE = VehicleEntity(
    BUS,
    PositionSnapshot(38.93, -77.08, NOW - 5, 133.0, 8.8),
    "run-1",
    TRIP,
    StopStatusSnapshot(36, "7752", StopStatusCode.STOPPED_AT),
    OccupancySnapshot(OccupancyStatusCode.FEW_SEATS_AVAILABLE, 35),
)
NO_RUN = VehicleEntity(VehicleSnapshot("9999"), PositionSnapshot(38.9, -77.0, NOW - 3))


def parse(feed: rt.FeedMessage) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.ParseFromString(feed.SerializeToString())
    return message


def test_vehicle_positions_parse_with_descriptors_status_and_occupancy():
    message = parse(build_vehicle_positions([ON_ROUTE, NO_RUN], now=NOW))
    assert message.header.gtfs_realtime_version == "2.0"
    assert message.header.incrementality == rt.FeedHeader.FULL_DATASET
    assert [e.id for e in message.entity] == ["4582", "9999"]
    vp = message.entity[0].vehicle
    assert (
        vp.trip.trip_id,
        vp.trip.route_id,
        vp.trip.direction_id,
        vp.trip.start_date,
        vp.trip.start_time,
    ) == ("30095100", "D96", 1, "20260216", "10:30:00")
    assert (vp.vehicle.id, vp.vehicle.label, vp.vehicle.license_plate) == ("4582", "4582", "DC-123")
    assert vp.vehicle.wheelchair_accessible == rt.VehicleDescriptor.WHEELCHAIR_ACCESSIBLE
    assert vp.timestamp == NOW - 5
    assert (vp.current_stop_sequence, vp.stop_id) == (36, "7752")
    assert vp.current_status == rt.VehiclePosition.STOPPED_AT
    assert vp.occupancy_status == rt.VehiclePosition.FEW_SEATS_AVAILABLE
    assert vp.occupancy_percentage == 35
    assert all("count" not in field.name for field, _ in vp.ListFields())
    assert not message.entity[1].vehicle.HasField("trip")


def test_header_timestamp_never_decreases():
    first = build_vehicle_positions([], now=NOW)
    second = build_trip_updates([], now=NOW - 30, previous_timestamp=first.header.timestamp)
    assert second.header.timestamp == NOW


def test_trip_updates_cancelled_runs_and_no_vehicle_without_a_run():
    updates = (
        StopTimeUpdateSnapshot(10, "C", NOW + 300, NOW + 300, 60),
        StopTimeUpdateSnapshot(4, "A", NOW + 100, NOW + 110, 40),
        StopTimeUpdateSnapshot(6, "B", NOW + 100, NOW + 100, 50),  # not after its predecessor
    )
    cancelled = TripSnapshot(
        "1", "C53", 0, "20260216", "11:00:00", relationship=TripRelationship.CANCELED
    )
    message = parse(
        build_trip_updates(
            [TripEntity("run-1", TRIP, NOW, BUS, updates), TripEntity("run-2", cancelled, NOW)],
            now=NOW,
        )
    )
    assert [e.id for e in message.entity] == ["run-1", "run-2"]
    assert {e.trip_update.vehicle.id for e in message.entity} == {"4582", ""}
    stus = message.entity[0].trip_update.stop_time_update
    assert [s.stop_sequence for s in stus] == [4, 6, 10]
    times = [t for s in stus for t in (s.arrival.time, s.departure.time)]
    arrivals = [s.arrival.time for s in stus]
    assert arrivals == sorted(set(arrivals)) and times == sorted(times)
    assert stus[1].arrival.time > stus[0].departure.time
    assert stus[0].arrival.uncertainty == 40
    cancelled_tu = message.entity[1].trip_update
    assert cancelled_tu.trip.schedule_relationship == rt.TripDescriptor.CANCELED
    assert len(cancelled_tu.stop_time_update) == 0


def test_an_entity_protobuf_refuses_is_left_out_and_reported_the_rest_built():
    # What froze both feeds once: a uint32 field handed 2**32 raised out of the whole build.
    poisoned = VehicleEntity(
        VehicleSnapshot("poisoned"),
        PositionSnapshot(38.9, -77.0, NOW - 4),
        occupancy=OccupancySnapshot(OccupancyStatusCode.FULL, 4294967296),
    )
    negative = TripEntity(
        "run-bad",
        TRIP,
        NOW - 5,
        stop_time_updates=(StopTimeUpdateSnapshot(-1, "S1", NOW + 60, NOW + 60),),
    )
    good_trip = TripEntity(
        "run-1", TRIP, NOW - 5, stop_time_updates=(StopTimeUpdateSnapshot(3, "S3", NOW, NOW),)
    )
    skipped: list[EntitySkip] = []

    vehicles = parse(
        build_vehicle_positions([ON_ROUTE, poisoned, NO_RUN], now=NOW, on_skip=skipped.append)
    )
    trips = parse(build_trip_updates([negative, good_trip], now=NOW, on_skip=skipped.append))

    assert [e.id for e in vehicles.entity] == ["4582", "9999"]
    assert vehicles.entity[0].vehicle.occupancy_percentage == 35
    assert [e.id for e in trips.entity] == ["run-1"]
    assert [(s.feed, s.key, s.reason) for s in skipped] == [
        (FeedName.VEHICLE_POSITIONS.value, "poisoned", HotStateSkip.BUILD_FAILED),
        (FeedName.TRIP_UPDATES.value, "run-bad", HotStateSkip.BUILD_FAILED),
    ]
    assert "out of range" in skipped[0].detail


def test_each_relationship_is_published_as_the_spec_gives_it():
    skipped_in_run = (
        StopTimeUpdateSnapshot(4, "A", NOW + 100, NOW + 110, 40),
        StopTimeUpdateSnapshot(5, "", None, None, relationship=StopRelationship.SKIPPED),
        StopTimeUpdateSnapshot(6, "B", NOW + 90, NOW + 95, 40),  # earlier than 4: moved on
    )
    added = TripSnapshot("X-1", "D96", None, "20260216", "", TripRelationship.NEW)
    new_stop = StopTimeUpdateSnapshot(1, "A", NOW + 60, NOW + 70, scheduled=True)
    headway = TripSnapshot("H", "D96", 0, "20260216", "10:30:00", TripRelationship.UNSCHEDULED)
    free = StopTimeUpdateSnapshot(
        1, "A", NOW + 60, NOW + 60, relationship=StopRelationship.UNSCHEDULED
    )

    message = parse(
        build_trip_updates(
            [
                TripEntity("run-1", TRIP, NOW, BUS, skipped_in_run),
                TripEntity("add-1", added, NOW, BUS, (new_stop,)),
                TripEntity("run-2", headway, NOW, BUS, (free,)),
            ],
            now=NOW,
        )
    )

    run, new, unscheduled = (e.trip_update for e in message.entity)
    assert [u.schedule_relationship for u in run.stop_time_update] == [
        STU.SCHEDULED,
        STU.SKIPPED,
        STU.SCHEDULED,
    ]
    skipped = run.stop_time_update[1]
    assert not (skipped.HasField("arrival") or skipped.HasField("departure") or skipped.stop_id)
    assert run.stop_time_update[2].arrival.time > run.stop_time_update[0].departure.time
    assert new.trip.schedule_relationship == rt.TripDescriptor.NEW
    assert not new.trip.HasField("direction_id") and not new.trip.HasField("start_time")
    assert new.stop_time_update[0].arrival.scheduled_time == NOW + 60
    assert new.stop_time_update[0].departure.scheduled_time == NOW + 70
    assert not run.stop_time_update[0].arrival.HasField("scheduled_time")
    assert unscheduled.trip.schedule_relationship == rt.TripDescriptor.UNSCHEDULED
    assert unscheduled.stop_time_update[0].schedule_relationship == STU.UNSCHEDULED


def _ordered_the_long_way(updates):
    """``increasing_updates``' rule, written plainly: sort, one row per stop, every timed
    row after the one before (moved a second later when not), departure not before arrival."""
    out, last = [], None
    for update in sorted(updates, key=lambda u: u.stop_sequence):
        if out and out[-1][0] == update.stop_sequence:
            continue
        arrival, departure = update.arrival_time, update.departure_time
        if arrival is not None and departure is not None:
            arrival = arrival if last is None else max(arrival, last + 1)
            departure = last = max(departure, arrival)
        out.append((update.stop_sequence, update.stop_id, arrival, departure))
    return out


def _rows(updates):
    return [(u.stop_sequence, u.stop_id, u.arrival_time, u.departure_time) for u in updates]


def test_stop_time_updates_are_ordered_the_same_whether_already_in_order_or_not():
    """The builder keeps rows already in order as they are (the predictor's always are)
    and repairs any others; both give what the rule says, for random rows of both kinds."""
    import random

    from schedule_engine.feeds.builders import increasing_updates

    rng = random.Random(15)
    in_order = 0
    for _ in range(3_000):
        updates, sequence, at = [], 0, NOW
        for _ in range(rng.randint(0, 8)):
            sequence += rng.choice((0, 1, 1, 2)) if rng.random() < 0.3 else 1
            at += rng.choice((-30, 0, 1, 60))
            timed = rng.random() > 0.1
            updates.append(
                StopTimeUpdateSnapshot(
                    sequence,
                    f"S{sequence}",
                    at if timed else None,
                    at + rng.choice((-5, 0, 10)) if timed else None,
                )
            )
        if rng.random() < 0.2:
            rng.shuffle(updates)
        got = _rows(increasing_updates(tuple(updates)))
        assert got == _ordered_the_long_way(updates)
        in_order += got == _rows(updates)
    assert 300 < in_order < 2_700  # both kinds were drawn
