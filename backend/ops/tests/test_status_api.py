"""``GET /api/ops/status``: staff only; every part shows what really happened; a part whose
source fails says so while the others answer.

Against the real services: the hot-state Redis, the Celery broker with a real worker
process, PostgreSQL. What happens is done the way production does it: the feeds built by
their publishers, the stale-run scan run by the worker through the broker (so Celery's
signals write its task record), dead letters in the stream as ingest writes them, a Streams
consumer group as the ingress creates it, the heartbeat as beat writes it.
"""

from __future__ import annotations

import time
import uuid

import pytest
from rest_framework.test import APIClient

from alerts.feed import alerts_feed_publish
from databus import keys
from databus.celery import app
from databus.task_records import heartbeat_set, periodic_tasks
from databus.tasks import ping
from realtime_engine.ingest import dlq
from realtime_engine.ingest.decode import Rejection
from realtime_engine.ingest.streams.group import ensure_group
from realtime_engine.tasks import scan_stale_runs
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.telemetry.rejection import RejectReason
from runs.domain.tests.domain_values import STOPS
from runs.tests.fixtures.people import make_user, token_client
from runs.tests.fixtures.runs import write_position
from schedule_engine.feeds.store import FeedName
from schedule_engine.feeds.tasks import feeds_publish

pytest_plugins = [
    "runs.tests.fixtures.feed",
    "runs.tests.fixtures.people",
    "runs.tests.fixtures.runs",
]

STATUS = "/api/ops/status"
PARTS = {
    "generated_at",
    "periodic_tasks",
    "beat",
    "feeds",
    "stale_run_scan",
    "dead_letters",
    "ingest",
    "workers",
}
REFUSED = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused


def staff_client() -> APIClient:
    user = make_user(f"ops-{uuid.uuid4().hex[:6]}", None)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return token_client(user)


def status_of(client: APIClient) -> dict:
    response = client.get(STATUS)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()


def dead_letter(redis_client, reason: RejectReason) -> None:
    rejection = Rejection("fleet/v1/bus-1/position", b"\xff not json", reason, "bad", time.time())
    redis_client.xadd(keys.TELEMETRY_DLQ, dlq.entry_fields(rejection))


@pytest.mark.django_db
def test_only_staff_see_the_status(dispatcher, operator, redis_client):
    anonymous = APIClient().get(STATUS)
    assert anonymous.status_code == 401
    for user in (dispatcher, operator.user, make_user("plain", None)):
        refused = token_client(user).get(STATUS)
        assert refused.status_code == 403
        assert refused.json()["detail"] == "the operations status is for staff accounts"
    assert set(status_of(staff_client())) == PARTS


@pytest.mark.django_db(transaction=True)
def test_every_part_shows_what_the_system_did(
    process_env, celery_worker_factory, run_in_state, redis_client, settings
):
    run = run_in_state(RunState.IN_PROGRESS)
    name = f"ops{uuid.uuid4().hex[:6]}"
    env = {**process_env, "MQTT_CONSUMER_ENABLED": "false", "HOT_STATE_CHECK_INTERVAL_S": "0"}
    worker = celery_worker_factory(env, name=name)
    try:
        assert ping.delay().get(timeout=60) == "pong"
        # The run's vehicle went silent 90 s ago (stale after 60 s): the scan loses its tracking.
        write_position(redis_client, run, lat=STOPS[1][1], lon=STOPS[1][2], speed=0.0, age_s=90)
        assert scan_stale_runs.delay().get(timeout=60) == 1
    except Exception:
        print(worker.log())
        raise
    feeds_publish(redis_client)
    alerts_feed_publish(redis_client)
    for reason in (RejectReason.NOT_JSON, RejectReason.NOT_JSON, RejectReason.INVALID_VEHICLE_ID):
        dead_letter(redis_client, reason)
    heartbeat_set(redis_client, at=time.time(), identity="beat-host:4242", interval_s=5.0)
    ensure_group(redis_client, keys.TELEMETRY_AVL_STREAM, settings.STREAMS_GROUP)
    for _ in range(3):  # written by a gateway, not read by any member yet
        redis_client.xadd(keys.TELEMETRY_AVL_STREAM, {"payload": "{}"})

    body = status_of(staff_client())

    parts = [body[p] for p in PARTS - {"generated_at", "ingest"}] + list(body["ingest"].values())
    assert all(p["available"] and p["error"] is None for p in parts), body

    tasks = {task["name"]: task for task in body["periodic_tasks"]["tasks"]}
    assert list(tasks) == [task.entry for task in periodic_tasks()]
    scan_task = tasks["scan-stale-runs"]
    assert scan_task["task"] == "runs.scan_stale_runs"
    assert scan_task["interval_s"] == settings.RUN_SCAN_INTERVAL_S
    assert scan_task["setting"] == "RUN_SCAN_INTERVAL_S"
    assert scan_task["state"] == "ok"
    assert scan_task["last_state"] == "SUCCESS"
    assert scan_task["runs"] >= 1 and scan_task["failures"] == 0
    assert scan_task["last_run_at"] >= scan_task["last_success_at"] > time.time() - 120
    assert scan_task["last_duration_s"] >= 0
    assert tasks["maintain-position-partitions"]["state"] == "never run"

    beat = body["beat"]
    assert beat["state"] == "ok" and beat["identity"] == "beat-host:4242"
    assert 0 <= beat["age_s"] < 60 and beat["interval_s"] == 5.0

    feeds = {feed["name"]: feed for feed in body["feeds"]["feeds"]}
    assert set(feeds) == {name.value for name in FeedName}
    for feed in feeds.values():
        assert feed["state"] == "ok", feed
        assert 0 <= feed["age_s"] < 60 and feed["header_timestamp"] > time.time() - 60
        assert feed["entity_count"] >= 0 and feed["build_seconds"] >= 0
    # The silent run's vehicle is still published (its last position) and its trip updated.
    assert feeds[FeedName.VEHICLE_POSITIONS.value]["entity_count"] == 1

    scan = body["stale_run_scan"]
    assert scan["state"] == "ok" and scan["runs_looked_at"] == 1
    assert scan["transitions_total"] == 1
    assert scan["transitions"] == [
        {
            "run_id": str(run.pk),
            "event": RunEvent.RUN_TRACKING_LOST.value,
            "source": RunState.IN_PROGRESS.value,
            "target": RunState.NO_SIGNAL.value,
        }
    ]
    assert 0 <= scan["age_s"] < 120 and scan["duration_s"] >= 0

    assert body["dead_letters"] | {"available": True} == {
        "available": True,
        "error": None,
        "length": 3,
        "counted": 3,
        "complete": True,
        "by_reason": [
            {"reason": RejectReason.NOT_JSON.value, "count": 2},
            {"reason": RejectReason.INVALID_VEHICLE_ID.value, "count": 1},
        ],
    }

    mqtt = body["ingest"]["mqtt"]
    assert mqtt["runs_seen"] == 1 and mqtt["silent_runs"] == 1
    assert 89 <= mqtt["newest_fix_age_s"] < 200
    (stream,) = body["ingest"]["streams"]["streams"]
    assert stream["stream"] == keys.TELEMETRY_AVL_STREAM
    assert (stream["state"], stream["lag"], stream["pending"], stream["consumers"]) == (
        "ok",
        3,
        0,
        0,
    )

    (seen,) = [w for w in body["workers"]["workers"] if w["name"].startswith(f"{name}@")]
    assert "celery" in seen["queues"]


@pytest.mark.django_db
def test_with_redis_down_the_schedule_and_the_workers_still_answer(redis_client, settings):
    settings.REDIS_URL = REFUSED

    body = status_of(staff_client())

    for part in (
        body["periodic_tasks"],
        body["beat"],
        body["feeds"],
        body["stale_run_scan"],
        body["dead_letters"],
        body["ingest"]["mqtt"],
        body["ingest"]["streams"],
    ):
        assert part["available"] is False
        assert part["error"].startswith("ConnectionError"), part
    # What is known without Redis is still there: the schedule, the feeds' names.
    tasks = body["periodic_tasks"]["tasks"]
    assert [t["name"] for t in tasks] == [task.entry for task in periodic_tasks()]
    assert {t["state"] for t in tasks} == {"unknown"} and tasks[0]["interval_s"] > 0
    assert {f["state"] for f in body["feeds"]["feeds"]} == {"unknown"}
    # The broker is another Redis: the workers part asked it (no worker runs here).
    assert body["workers"] == {"available": True, "error": None, "workers": []}


@pytest.mark.django_db
def test_a_stream_key_of_another_type_fails_the_streams_part_alone(redis_client):
    redis_client.set(keys.TELEMETRY_AVL_STREAM, "not a stream")
    dead_letter(redis_client, RejectReason.NOT_JSON)

    body = status_of(staff_client())

    streams = body["ingest"]["streams"]
    assert streams["available"] is False and "WRONGTYPE" in streams["error"]
    assert body["ingest"]["mqtt"]["available"] is True
    assert body["dead_letters"]["length"] == 1
    assert body["periodic_tasks"]["available"] and body["feeds"]["available"]


@pytest.mark.django_db
def test_an_unreachable_broker_fails_the_workers_part_alone(redis_client, monkeypatch):
    # Broadcasts publish on the write URL (the read URL comes from the environment first).
    monkeypatch.setitem(app.conf, "broker_write_url", REFUSED)
    dead_letter(redis_client, RejectReason.NOT_JSON)

    body = status_of(staff_client())

    workers = body["workers"]
    assert workers["available"] is False and workers["workers"] == []
    assert "Connection refused" in workers["error"] or "111" in workers["error"]
    assert body["dead_letters"]["length"] == 1 and body["beat"]["available"]
