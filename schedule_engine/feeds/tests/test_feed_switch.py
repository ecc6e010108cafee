"""The feeds agree with the current schedule, across a switch of GTFS version and after a
cancelled trip's day: real runs (lifecycle service, PostgreSQL, Redis), real builds, the
stored feed bytes read back with ``gtfs_realtime_pb2``."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from databus import keys
from databus.metrics import REGISTRY
from runs.domain.lifecycle.states import RunState
from runs.domain.telemetry import stop_time_updates
from runs.models import Run, Vehicle
from runs.services.actors import actor_for_user
from runs.tests.fixtures.feed import TIMEZONE, gtfs_time, write_feed
from runs.tests.fixtures.runs import walk_to
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.models import Route, Stop, Trip
from schedule_engine.service_days import service_day_origin
from schedule_engine.testing import import_feed

pytest_plugins = ["runs.tests.fixtures.people"]

MARGIN_S = 3600


def stored(client, name: FeedName) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.ParseFromString(feed_get(client, name).payload)
    return message


def skipped(feed: FeedName, reason: str) -> float:
    labels = {"feed": feed.value, "reason": reason}
    return REGISTRY.get_sample_value("databus_feed_entities_skipped_total", labels) or 0.0


def departures_around_now() -> tuple[dt.date, dict[str, int]]:
    """Today's service date (agency time zone), T1 left a minute ago, T2 leaves in 30 min."""
    now = dt.datetime.now(ZoneInfo(TIMEZONE))
    minutes = now.hour * 60 + now.minute
    return now.date(), {"T1": max(minutes - 1, 0), "T2": minutes + 30}


def spring_version(folder, departures):
    """The next version: T2 is gone (renamed), and so is stop S4."""
    write_feed(folder, departures)
    for name in ("trips.txt", "stop_times.txt", "stops.txt"):
        path = folder / name
        path.write_text(path.read_text().replace("T2,", "T2-spring,").replace("S4,", "S4b,"))
    return folder


def run_on(trip_id: str, vehicle_id: str, service_date: dt.date, departures) -> Run:
    vehicle, _ = Vehicle.objects.get_or_create(id=vehicle_id, defaults={"label": vehicle_id})
    return Run.objects.create(
        vehicle=vehicle,
        route_id="R1",
        trip_id=trip_id,
        shape_id="SH1",
        direction_id=0,
        start_date=service_date,
        start_time=gtfs_time(departures[trip_id]),
    )


def write_predictions(client, run: Run, at: int) -> None:
    updates = tuple(
        stop_time_updates.StopTimeUpdate(seq, stop_id, at + 60 * seq, at + 60 * seq + 10, 30)
        for seq, stop_id in ((2, "S2"), (3, "S3"), (4, "S4"))
    )
    client.hset(
        keys.run_stop_time_updates(str(run.pk)),
        mapping=stop_time_updates.validate_for_write(
            stop_time_updates.StopTimeUpdates(timestamp=at, updates=updates)
        ),
    )


def assert_only_ids_of_current_version(vehicles: rt.FeedMessage, trips: rt.FeedMessage) -> None:
    known_trips = set(Trip.objects.filter(feed__is_current=True).values_list("trip_id", flat=True))
    known_routes = set(
        Route.objects.filter(feed__is_current=True).values_list("route_id", flat=True)
    )
    known_stops = set(Stop.objects.filter(feed__is_current=True).values_list("stop_id", flat=True))
    for entity in vehicles.entity:
        if entity.vehicle.HasField("trip"):
            assert entity.vehicle.trip.trip_id in known_trips
            assert entity.vehicle.trip.route_id in known_routes
        if entity.vehicle.stop_id:
            assert entity.vehicle.stop_id in known_stops
    for entity in trips.entity:
        assert entity.trip_update.trip.trip_id in known_trips
        assert entity.trip_update.trip.route_id in known_routes
        assert {u.stop_id for u in entity.trip_update.stop_time_update} <= known_stops


@pytest.mark.django_db(transaction=True)
def test_after_a_feed_switch_no_entity_names_the_old_version(
    tmp_path, redis_client, dispatcher, settings
):
    settings.CANCELED_TRIP_PUBLISH_MARGIN_S = MARGIN_S
    service_date, departures = departures_around_now()
    import_feed(write_feed(tmp_path / "winter", departures), name="winter")
    actor = actor_for_user(dispatcher)
    # T1 in progress with predictions; T2 cancelled, then taken by another bus, in progress.
    on_t1 = walk_to(
        redis_client, run_on("T1", "bus-1", service_date, departures), RunState.IN_PROGRESS, actor
    )
    walk_to(
        redis_client, run_on("T2", "bus-2", service_date, departures), RunState.CANCELLED, actor
    )
    on_t2 = walk_to(
        redis_client, run_on("T2", "bus-3", service_date, departures), RunState.IN_PROGRESS, actor
    )
    now = int(time.time())
    for run in (on_t1, on_t2):
        write_predictions(redis_client, run, now)

    feeds_publish(redis_client, now=now)
    before = stored(redis_client, FeedName.TRIP_UPDATES)
    assert sorted(
        (e.trip_update.trip.trip_id, e.trip_update.trip.schedule_relationship)
        for e in before.entity
    ) == [
        ("T1", rt.TripDescriptor.SCHEDULED),
        ("T2", rt.TripDescriptor.SCHEDULED),
        ("T2", rt.TripDescriptor.CANCELED),
    ]

    dropped_before = skipped(FeedName.TRIP_UPDATES, "unknown_trip")
    import_feed(spring_version(tmp_path / "spring", departures), name="spring")
    feeds_publish(redis_client, now=now + 15)

    vehicles = stored(redis_client, FeedName.VEHICLE_POSITIONS)
    trips = stored(redis_client, FeedName.TRIP_UPDATES)
    assert_only_ids_of_current_version(vehicles, trips)
    # T1 is still in the schedule: published, without its prediction at the removed stop.
    assert [
        (e.trip_update.trip.trip_id, e.trip_update.trip.schedule_relationship) for e in trips.entity
    ] == [("T1", rt.TripDescriptor.SCHEDULED)]
    assert [u.stop_id for u in trips.entity[0].trip_update.stop_time_update] == ["S2", "S3"]
    # The bus on the removed trip is still on the map, without a trip.
    by_vehicle = {e.vehicle.vehicle.id: e.vehicle for e in vehicles.entity}
    assert by_vehicle["bus-1"].trip.trip_id == "T1"
    assert not by_vehicle["bus-3"].HasField("trip")
    assert skipped(FeedName.TRIP_UPDATES, "unknown_trip") == dropped_before + 2


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_trip_is_published_for_its_date_until_its_scheduled_end_plus_the_margin(
    tmp_path, redis_client, dispatcher, settings
):
    settings.CANCELED_TRIP_PUBLISH_MARGIN_S = MARGIN_S
    service_date, departures = departures_around_now()
    import_feed(write_feed(tmp_path / "gtfs", departures))
    actor = actor_for_user(dispatcher)
    run = walk_to(
        redis_client, run_on("T2", "bus-2", service_date, departures), RunState.CANCELLED, actor
    )
    # T2 arrives at its last stop 9 minutes after it leaves (write_feed's stop offsets).
    origin = service_day_origin(service_date, ZoneInfo(TIMEZONE)).timestamp()
    scheduled_end = origin + (departures["T2"] + 9) * 60

    assert redis_client.zscore(keys.RUNS_CANCELED, str(run.pk)) == scheduled_end + MARGIN_S
    feeds_publish(redis_client, now=time.time())
    (entity,) = stored(redis_client, FeedName.TRIP_UPDATES).entity
    assert entity.trip_update.trip.schedule_relationship == rt.TripDescriptor.CANCELED
    assert entity.trip_update.trip.start_date == service_date.strftime("%Y%m%d")

    feeds_publish(redis_client, now=scheduled_end + MARGIN_S + 1)
    assert list(stored(redis_client, FeedName.TRIP_UPDATES).entity) == []


@pytest.mark.django_db(transaction=True)
def test_a_trip_cancelled_for_a_day_long_past_is_never_published(
    tmp_path, redis_client, dispatcher, settings
):
    _, departures = departures_around_now()
    import_feed(write_feed(tmp_path / "gtfs", departures))
    ten_months_ago = dt.date.today() - dt.timedelta(days=300)
    run = walk_to(
        redis_client,
        run_on("T2", "bus-2", ten_months_ago, departures),
        RunState.CANCELLED,
        actor_for_user(dispatcher),
    )
    assert redis_client.zscore(keys.RUNS_CANCELED, str(run.pk)) < time.time()

    # Even when a member lingers with a score still ahead (written by an older release).
    redis_client.zadd(keys.RUNS_CANCELED, {str(run.pk): time.time() + 6 * 3600})
    feeds_publish(redis_client, now=time.time())
    assert list(stored(redis_client, FeedName.TRIP_UPDATES).entity) == []
