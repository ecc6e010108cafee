"""The replay runner against real PostgreSQL, Redis and Mosquitto: runs through the lifecycle.

A trip handed from one bus to another mid-route, replayed twice: every run is created
and confirmed by its bus's replay operator, the handover frees the trip for the second
bus, and a second replay releases what the first one left claimed.
"""

from __future__ import annotations

import time

from django.conf import settings

from databus import keys
from realtime_engine.replay.plan import ReplayClock, plan_replay
from realtime_engine.replay.runner import ReplayRunner, replay_prepare, replay_publisher
from realtime_engine.replay.trace import TracePing
from realtime_engine.tests.test_progression_observer import SERVICE_DATE, line_feed, north
from runs.domain.lifecycle.states import RunState
from runs.models import Operator, Run
from schedule_engine.testing import import_feed, write_feed


def ping(vehicle_id: str, at: int, metres: float) -> TracePing:
    lat, lon = north(metres)
    return TracePing(
        vehicle_id,
        f"Bus {vehicle_id}",
        "LT",
        "L1",
        0,
        SERVICE_DATE,
        "10:00:00",
        lat,
        lon,
        0.0,
        8.0,
        1_771_257_600 + at,
    )


def replay(plan) -> None:
    publisher = replay_publisher(settings.MQTT_ADDRESS, settings.MQTT_TOPIC_ROOT)
    clock = ReplayClock(plan.start_at, time.time(), speed=1000.0)
    try:
        ReplayRunner(plan, clock, publisher, replay_prepare(plan)).run()
    finally:
        publisher.close()


def states() -> list[tuple[str, str]]:
    return list(Run.objects.order_by("created_at").values_list("vehicle_id", "run_lifecycle_state"))


def test_a_handover_frees_the_trip_and_a_second_replay_releases_the_first(
    tmp_path, db, redis_client, topic_root
):
    import_feed(write_feed(tmp_path / "line", line_feed()))
    plan = plan_replay([ping("RA", 0, 0.0), ping("RA", 30, 200.0), ping("RB", 60, 400.0)])

    replay(plan)
    assert states() == [("RA", RunState.CANCELLED), ("RB", RunState.CONFIRMED)]
    second = Run.objects.get(vehicle_id="RB")
    assert redis_client.get(keys.trip_current_run("LT")) == str(second.pk)
    assert second.operator == Operator.objects.get(user__username="replay-RB")
    assert (second.start_date, second.start_time) == (SERVICE_DATE, "10:00:00")
    assert redis_client.hget(keys.vehicle_metadata("RB"), "label") == "Bus RB"

    replay(plan)  # the first replay's run still holds the trip: it is released first
    assert [s for _, s in states()] == [RunState.CANCELLED] * 3 + [RunState.CONFIRMED]
    assert redis_client.get(keys.trip_current_run("LT")) == str(
        Run.objects.filter(vehicle_id="RB").order_by("-created_at").first().pk
    )
