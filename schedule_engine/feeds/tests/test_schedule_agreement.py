"""What of the assembled entities agrees with the current schedule version (pure decisions)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from msgspec.structs import replace

from runs.domain.telemetry.vehicle_stop_status import StopStatusCode
from schedule_engine.feeds.feed_inputs import FeedInputs
from schedule_engine.feeds.schedule_agreement import (
    ScheduleIds,
    SkipReason,
    TripFacts,
    feed_inputs_agree,
)
from schedule_engine.feeds.snapshots import (
    PositionSnapshot,
    StopRelationship,
    StopStatusSnapshot,
    StopTimeUpdateSnapshot,
    TripEntity,
    TripRelationship,
    TripSnapshot,
    VehicleEntity,
    VehicleSnapshot,
)
from schedule_engine.feeds.store import FeedName

TZ = "America/New_York"
DAY = dt.date(2026, 12, 1)
# T1 runs 08:00 → 08:10 on DAY, New York time.
T1_END = dt.datetime(2026, 12, 1, 8, 10, tzinfo=ZoneInfo(TZ)).timestamp()
SCHEDULE = ScheduleIds(
    feed_id=2,
    timezone=TZ,
    trips={
        "T1": TripFacts("R1", 8 * 3600, 8 * 3600 + 600),
        "F1": TripFacts("R1", 6 * 3600, 6 * 3600 + 720),
    },
    routes=frozenset({"R1"}),
    stops=frozenset({"S1", "S2", "S3"}),
)
MARGIN = 3600


def trip(trip_id: str = "T1", *, route_id: str = "R1", start_time="08:00:00", cancelled=False):
    relationship = TripRelationship.CANCELED if cancelled else TripRelationship.SCHEDULED
    return TripSnapshot(trip_id, route_id, 0, DAY.strftime("%Y%m%d"), start_time, relationship)


def vehicle_on(descriptor: TripSnapshot, stop_id: str = "S2") -> VehicleEntity:
    return VehicleEntity(
        vehicle=VehicleSnapshot("bus-1"),
        position=PositionSnapshot(9.9, -84.0, 1_000),
        run_id="run-1",
        trip=descriptor,
        stop_status=StopStatusSnapshot(2, stop_id, StopStatusCode.IN_TRANSIT_TO),
    )


def update(sequence: int, stop_id: str) -> StopTimeUpdateSnapshot:
    return StopTimeUpdateSnapshot(sequence, stop_id, 1_000 + sequence, 1_010 + sequence)


def agree(*, vehicles=(), trips=(), now: float = T1_END):
    return feed_inputs_agree(
        FeedInputs(tuple(vehicles), tuple(trips)), SCHEDULE, now=now, canceled_margin_s=MARGIN
    )


def test_entities_of_the_current_version_are_published_unchanged():
    vehicle = vehicle_on(trip())
    update_ = TripEntity("run-1", trip(), 1_000, stop_time_updates=(update(2, "S2"),))

    inputs, skipped = agree(vehicles=[vehicle], trips=[update_])

    assert inputs == FeedInputs((vehicle,), (update_,))
    assert not skipped


def test_a_vehicle_on_an_unknown_trip_is_published_without_its_trip():
    inputs, _ = agree(vehicles=[vehicle_on(trip("OLD-7"))])
    (kept,) = inputs.vehicles

    assert kept.vehicle.vehicle_id == "bus-1"
    assert kept.position.latitude == 9.9
    assert (kept.trip, kept.run_id, kept.stop_status, kept.congestion) == (None, None, None, None)


def test_a_trip_update_of_an_unknown_trip_or_route_is_dropped_and_counted():
    inputs, skipped = agree(
        trips=[
            TripEntity("a", trip("OLD-7"), 1_000, stop_time_updates=(update(2, "S2"),)),
            TripEntity("b", trip(route_id="R-OLD"), 1_000, stop_time_updates=(update(2, "S2"),)),
        ],
        vehicles=[vehicle_on(trip("OLD-7"))],
    )

    assert inputs.trips == ()
    assert skipped == {
        (FeedName.TRIP_UPDATES, SkipReason.UNKNOWN_TRIP): 1,
        (FeedName.TRIP_UPDATES, SkipReason.UNKNOWN_ROUTE): 1,
        (FeedName.VEHICLE_POSITIONS, SkipReason.UNKNOWN_TRIP): 1,
    }


def test_stop_time_updates_and_a_stop_status_of_unknown_stops_are_dropped():
    entity = TripEntity("a", trip(), 1_000, stop_time_updates=(update(2, "S2"), update(4, "S4")))
    only_unknown = TripEntity("b", trip(), 1_000, stop_time_updates=(update(4, "S4"),))

    inputs, skipped = agree(trips=[entity, only_unknown], vehicles=[vehicle_on(trip(), "S4")])

    assert [u.stop_id for e in inputs.trips for u in e.stop_time_updates] == ["S2"]
    assert [e.run_id for e in inputs.trips] == ["a"]  # b has no update left: left out
    assert inputs.vehicles[0].stop_status is None
    assert inputs.vehicles[0].trip == trip()
    assert skipped[FeedName.TRIP_UPDATES, SkipReason.UNKNOWN_STOP] == 2


def test_a_cancelled_trip_is_published_until_its_scheduled_end_plus_the_margin():
    canceled = TripEntity("c", trip(cancelled=True), 1_000)

    assert agree(trips=[canceled], now=T1_END + MARGIN)[0].trips == (canceled,)
    inputs, skipped = agree(trips=[canceled], now=T1_END + MARGIN + 1)
    assert inputs.trips == ()
    assert skipped == {(FeedName.TRIP_UPDATES, SkipReason.CANCELED_TRIP_ENDED): 1}


def test_a_cancelled_trip_of_a_day_long_past_is_not_published():
    old = TripSnapshot("T1", "R1", 0, "20260216", "08:00:00", TripRelationship.CANCELED)

    assert agree(trips=[TripEntity("c", old, 1_000)], now=T1_END)[0].trips == ()


def test_a_cancelled_frequency_instance_ends_with_its_own_start():
    # F1's instance starting 06:40 ends at 06:52, not at the template's 06:12.
    instance = TripEntity("c", trip("F1", start_time="06:40:00", cancelled=True), 1_000)
    ends = dt.datetime(2026, 12, 1, 6, 52, tzinfo=ZoneInfo(TZ)).timestamp()

    assert agree(trips=[instance], now=ends + MARGIN)[0].trips == (instance,)
    assert agree(trips=[instance], now=ends + MARGIN + 1)[0].trips == ()


HEADWAY = ScheduleIds(
    feed_id=3,
    timezone=TZ,
    trips={
        "H1": TripFacts("R1", 10 * 3600, 10 * 3600 + 900, 1, exact_times=False),
        "E1": TripFacts("R1", 6 * 3600, 6 * 3600 + 720, 0, exact_times=True),
    },
    routes=frozenset({"R1"}),
    stops=frozenset({"S1", "S2"}),
)


def test_a_run_of_an_exact_times_zero_trip_is_unscheduled_and_an_exact_times_one_is_not():
    updates = (update(1, "S1"), update(2, "S2"))
    headway, exact = (
        TripEntity(rid, trip(trip_id, start_time="10:30:00"), 1_000, stop_time_updates=updates)
        for rid, trip_id in (("h", "H1"), ("e", "E1"))
    )

    inputs, skipped = feed_inputs_agree(
        FeedInputs((vehicle_on(headway.trip, "S1"),), (headway, exact)),
        HEADWAY,
        now=T1_END,
        canceled_margin_s=MARGIN,
    )

    unscheduled, scheduled = inputs.trips
    assert unscheduled.trip.relationship is TripRelationship.UNSCHEDULED
    assert {u.relationship for u in unscheduled.stop_time_updates} == {StopRelationship.UNSCHEDULED}
    assert inputs.vehicles[0].trip.relationship is TripRelationship.UNSCHEDULED
    assert scheduled == exact
    assert not skipped


def test_an_added_trip_needs_its_route_and_every_stop_but_not_its_trip_id():
    def added(route_id: str, *stops: str) -> TripEntity:
        new = TripSnapshot("EXTRA", route_id, 0, "20261201", "09:00:00", TripRelationship.NEW)
        updates = tuple(update(seq, stop) for seq, stop in enumerate(stops, 1))
        return TripEntity(f"add-{route_id}-{len(stops)}", new, 1_000, stop_time_updates=updates)

    kept = added("R1", "S1", "S2")
    inputs, skipped = feed_inputs_agree(
        FeedInputs((), (), operations=(kept, added("R9", "S1", "S2"), added("R1", "S1", "S7"))),
        SCHEDULE,
        now=T1_END,
        canceled_margin_s=MARGIN,
    )

    assert inputs.operations == (kept,)
    assert skipped == {
        (FeedName.TRIP_UPDATES, SkipReason.UNKNOWN_ROUTE): 1,
        (FeedName.TRIP_UPDATES, SkipReason.UNKNOWN_STOP): 1,
    }


def test_an_operation_on_a_scheduled_trip_takes_its_route_and_direction_from_the_schedule():
    unnamed = TripSnapshot("E1", "", None, "20261201", "", TripRelationship.CANCELED)
    skipped_only = TripSnapshot("H1", "", None, "20261201", "")
    skip = StopTimeUpdateSnapshot(2, "", None, None, relationship=StopRelationship.SKIPPED)

    inputs, skipped = feed_inputs_agree(
        FeedInputs(
            (),
            (),
            operations=(
                TripEntity("cancel-1", unnamed, 1_000),
                TripEntity("skip-2", skipped_only, 1_000, stop_time_updates=(skip,)),
                TripEntity("cancel-3", replace(unnamed, trip_id="GONE"), 1_000),
            ),
        ),
        HEADWAY,
        now=1_000,
        canceled_margin_s=MARGIN,
    )

    cancel, skipped_stops = inputs.operations
    assert (cancel.trip.route_id, cancel.trip.direction_id) == ("R1", 0)
    assert (skipped_stops.trip.route_id, skipped_stops.trip.direction_id) == ("R1", 1)
    assert skipped_stops.stop_time_updates == (skip,)  # a stop named by its sequence alone
    assert skipped == {(FeedName.TRIP_UPDATES, SkipReason.UNKNOWN_TRIP): 1}
