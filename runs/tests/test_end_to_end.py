"""The whole run lifecycle through the real entry points.

HTTP creates and confirms the run; MQTT pings go through the real broker into a
real `celery worker` (MQTT consumer bootstep, detector dispatch, lifecycle tasks,
embedded beat running the stale scan). Thresholds are shortened through the
worker's environment so the test takes seconds.
"""

from __future__ import annotations

import threading
import time

import pytest

from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.tests.mqtt_support import publish
from runs.domain.tests.domain_values import STOPS
from runs.models import Run
from tests.support.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SUBSCRIBED = "MQTT ingest subscribed"


class Pinger:
    """Publishes the vehicle's position every 0.3 s from a thread until told otherwise."""

    def __init__(self, broker_url: str, topic: str):
        self.broker_url, self.topic = broker_url, topic
        self.stop_at, self.speed = 1, 0.0
        self.running = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def send(self, *, stop: int, speed: float) -> None:
        self.stop_at, self.speed = stop, speed
        self.running.set()

    def pause(self) -> None:
        self.running.clear()

    def close(self) -> None:
        self.done.set()
        self.running.set()
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        while not self.done.is_set():
            self.running.wait()
            if self.done.is_set():
                return
            _, lat, lon = STOPS[self.stop_at]
            payload = {
                "latitude": lat,
                "longitude": lon,
                "speed": self.speed,
                "timestamp": int(time.time()),
            }
            publish(self.broker_url, [(self.topic, payload)])
            time.sleep(0.3)


def state_of(run_id) -> str:
    return Run.objects.get(pk=run_id).run_lifecycle_state


def test_run_lifecycle_end_to_end(
    process_env,
    celery_worker_factory,
    private_broker,
    topic_root,
    redis_client,
    gtfs_feed_departing_now,
    vehicle,
    operator,
    dispatcher_api,
):
    env = {
        **process_env,
        "MQTT_URL": private_broker,
        "MQTT_CONSUMER_ENABLED": "true",
        "RUN_STALE_AFTER_S": "2",
        "RUN_SCAN_INTERVAL_S": "1",
    }
    worker = celery_worker_factory(env, beat=True)
    pinger = None
    try:
        wait_for(lambda: SUBSCRIBED in worker.log(), 60, "the MQTT consumer subscribed")
        created = dispatcher_api.post(
            "/api/runs/",
            {
                "vehicle_id": "V1",
                "trip_id": "T1",
                "start_date": gtfs_feed_departing_now.isoformat(),
                "operator_id": operator.pk,
                "actor_role": "operator",
            },
            format="json",
        )
        assert created.status_code == 201, created.json()
        run_id = created.json()["id"]
        confirmed = dispatcher_api.post(
            f"/api/runs/{run_id}/events/", {"event": "run_confirmed_by_operator"}, format="json"
        )
        assert confirmed.status_code == 200

        pinger = Pinger(private_broker, vehicle_topic(topic_root, "V1", TelemetryLeaf.POSITION))
        steps = [
            ("pings at the first stop", dict(stop=0, speed=0.0), "Tracking"),
            ("the vehicle moves", dict(stop=1, speed=6.0), "In Progress"),
            ("pings stop", None, "No Signal"),
            ("pings resume", dict(stop=2, speed=6.0), "In Progress"),
            ("the vehicle reaches the terminal", dict(stop=3, speed=0.0), "Completed"),
        ]
        for what, ping, expected in steps:
            if ping is None:
                pinger.pause()
            else:
                pinger.send(**ping)
            wait_for(
                lambda expected=expected: state_of(run_id) == expected,
                30,
                f"{expected} after {what}",
                interval=0.2,
            )
        pinger.pause()

        history = dispatcher_api.get(f"/api/runs/{run_id}/history/").json()
        applied = [(h["event"], h["to_state"], h["actor_role"]) for h in history if h["accepted"]]
        assert applied == [
            ("validate_run", "Validated", "dispatcher"),
            ("initialize_run", "Initialized", "dispatcher"),
            ("run_confirmed_by_operator", "Confirmed", "dispatcher"),
            ("run_tracking_started", "Tracking", "system"),
            ("run_started", "In Progress", "system"),
            ("run_tracking_lost", "No Signal", "system"),
            ("run_tracking_restored", "In Progress", "system"),
            ("run_completed", "Completed", "system"),
        ]
        assert all(h["actor"] is None for h in history if h["actor_role"] == "system")
        assert "Traceback" not in worker.log()
    except Exception:
        print(worker.log()[-20_000:])
        raise
    finally:
        if pinger is not None:
            pinger.close()
