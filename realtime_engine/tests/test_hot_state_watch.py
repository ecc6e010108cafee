"""FLUSHALL under live runs: a real worker notices, rebuilds, and TripUpdates carry on.

Two runs are driven In Progress by MQTT pings through a private broker into a real
`celery worker` (MQTT ingest, detectors, embedded beat building the feeds and running
the stale scan). Redis is then emptied with FLUSHALL, the way a restart without
persistence leaves it, while the buses keep driving. The worker's hot-state watch
must find the epoch marker gone and rebuild from PostgreSQL, and within one feed
build interval after that both runs must be back in the built TripUpdates bytes with
predictions, in the same lifecycle state in PostgreSQL and Redis, with no stop event
repeated or lost.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from databus import keys
from realtime_engine.hot_state_rebuild import hot_state_epoch
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.models import StopEvent
from realtime_engine.tests.mqtt_support import publish
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.tests.domain_values import STOPS
from runs.models import Company, Run, RunLifecycleTransition, Vehicle
from runs.services.actors import Actor
from runs.services.lifecycle import run_create, run_event_apply
from runs.tests.fixtures.feed import TIMEZONE, write_feed
from schedule_engine.feeds.store import FeedName, feed_get
from tests.support.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FEED_BUILD_INTERVAL_S = 2
VEHICLES = {"V1": "T1", "V2": "T2"}


def between(a: int, b: int) -> tuple[float, float]:
    """Halfway between stops a and b (the trip runs due east along one parallel)."""
    return STOPS[a][1], (STOPS[a][2] + STOPS[b][2]) / 2


class Fleet:
    """Publishes every vehicle's position every 0.3 s from a thread, where it is told."""

    def __init__(self, broker_url: str, topic_root: str):
        self.broker_url, self.topic_root = broker_url, topic_root
        self.where, self.speed = STOPS[0][1:], 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def drive(self, where: tuple[float, float], speed: float) -> None:
        self.where, self.speed = where, speed

    def close(self) -> None:
        self.done.set()
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        while not self.done.is_set():
            (lat, lon), now = self.where, int(time.time())
            publish(
                self.broker_url,
                [
                    (
                        vehicle_topic(self.topic_root, vid, TelemetryLeaf.POSITION),
                        {"latitude": lat, "longitude": lon, "speed": self.speed, "timestamp": now},
                    )
                    for vid in VEHICLES
                ],
            )
            time.sleep(0.3)


def trip_updates(client) -> tuple[int, dict[str, rt.TripUpdate]]:
    stored = feed_get(client, FeedName.TRIP_UPDATES)
    if stored is None:
        return 0, {}
    message = rt.FeedMessage()
    message.ParseFromString(stored.payload)
    return message.header.timestamp, {
        e.trip_update.trip.trip_id: e.trip_update
        for e in message.entity
        if e.HasField("trip_update")
    }


def predicted(update: rt.TripUpdate) -> bool:
    """The update predicts at least one stop ahead (not only observed times)."""
    return any(
        u.arrival.uncertainty > 0 or u.departure.uncertainty > 0 for u in update.stop_time_update
    )


def stop_events(run_ids) -> dict[tuple[str, int], tuple[float, float | None]]:
    return {
        (str(e.run_id), e.stop_sequence): (
            e.arrived_at.timestamp(),
            e.departed_at and e.departed_at.timestamp(),
        )
        for e in StopEvent.objects.filter(run_id__in=run_ids)
    }


@pytest.fixture
def trips_departing_now(tmp_path) -> dt.date:
    from schedule_engine.services import feed_import

    start = dt.datetime.now(ZoneInfo(TIMEZONE)) - dt.timedelta(minutes=1)
    minute = start.hour * 60 + start.minute
    folder = write_feed(tmp_path / "gtfs", {trip: minute for trip in VEHICLES.values()})
    feed_import(path=folder, name="rebuild-now", activate=True)
    return start.date()


def test_flushall_with_runs_in_progress_is_rebuilt_and_tripupdates_carry_on(
    process_env,
    celery_worker_factory,
    private_broker,
    topic_root,
    redis_client,
    trips_departing_now,
):
    company = Company.objects.create(name="Rebuild Transit")
    actor = Actor(ActorRole.DISPATCHER)
    run_ids = []
    for vehicle_id, trip_id in VEHICLES.items():
        vehicle = Vehicle.objects.create(id=vehicle_id, label=vehicle_id, company=company)
        outcome = run_create(
            actor=actor, vehicle=vehicle, trip_id=trip_id, start_date=trips_departing_now
        )
        run_id = outcome.run.pk
        run_event_apply(run_id=run_id, event=RunEvent.RUN_CONFIRMED_BY_OPERATOR, actor=actor)
        run_ids.append(str(run_id))
    env = {
        **process_env,
        "MQTT_URL": private_broker,
        "MQTT_CONSUMER_ENABLED": "true",
        "HOT_STATE_CHECK_INTERVAL_S": "0.5",
        "FEED_BUILD_INTERVAL_S": str(FEED_BUILD_INTERVAL_S),
        "RUN_SCAN_INTERVAL_S": "1",
        # The buses jump half a stop spacing (165 m) between pings 0.3 s apart: the
        # matcher's search window must reach that far (as for a fast replay).
        "PROGRESSION_MAX_SPEED_MPS": "2000",
    }
    worker = celery_worker_factory(env, beat=True)
    fleet = None
    try:
        wait_for(lambda: "MQTT ingest subscribed" in worker.log(), 60, "the consumer subscribed")
        wait_for(lambda: hot_state_epoch(redis_client) is not None, 30, "the start-up rebuild")

        def states() -> set[str]:
            return set(
                Run.objects.filter(pk__in=run_ids).values_list("run_lifecycle_state", flat=True)
            )

        fleet = Fleet(private_broker, topic_root)
        wait_for(lambda: states() == {"Tracking"}, 30, "both runs tracking", interval=0.2)

        def at_first_stop() -> bool:  # the matcher saw them there (their stop 1 departs)
            zones = [redis_client.hget(keys.run_progression(rid), "zone_index") for rid in run_ids]
            return zones == ["0"] * len(run_ids)

        wait_for(at_first_stop, 10, "the matcher placing both at stop 1", interval=0.1)
        fleet.drive(between(0, 1), 6.0)
        wait_for(lambda: states() == {"In Progress"}, 30, "both runs in progress", interval=0.2)
        fleet.drive(between(1, 2), 6.0)
        wait_for(lambda: len(stop_events(run_ids)) == 4, 30, "stops 1 and 2 recorded", interval=0.2)
        wait_for(lambda: len(trip_updates(redis_client)[1]) == 2, 30, "both trips in TripUpdates")
        events_before = stop_events(run_ids)
        transitions_before = RunLifecycleTransition.objects.count()

        redis_client.flushall()  # a restart of a Redis without persistence
        wait_for(lambda: hot_state_epoch(redis_client) is not None, 10, "the rebuild", interval=0.1)
        rebuilt_at = time.time()

        def published_again() -> bool:
            header, updates = trip_updates(redis_client)
            return (
                header >= rebuilt_at
                and set(updates) == set(VEHICLES.values())
                and all(predicted(u) for u in updates.values())
            )

        wait_for(published_again, FEED_BUILD_INTERVAL_S + 3, "TripUpdates with predictions")

        fleet.drive(between(2, 3), 6.0)
        wait_for(lambda: len(stop_events(run_ids)) == 6, 30, "stop 3 recorded", interval=0.2)
        events_after = stop_events(run_ids)
        assert {k: events_after[k] for k in events_before} == events_before  # none repeated
        assert states() == {"In Progress"}
        assert RunLifecycleTransition.objects.count() == transitions_before
        for rid in run_ids:
            assert redis_client.hget(keys.run(rid), "run_lifecycle_state") == "In Progress"
            assert redis_client.sismember(keys.RUNS_IN_PROGRESS, rid)
        assert "hot state rebuilt from PostgreSQL (lost): 2 runs" in worker.log()
        assert "Traceback" not in worker.log()
    except Exception:
        print(worker.log()[-20_000:])
        raise
    finally:
        if fleet is not None:
            fleet.close()
