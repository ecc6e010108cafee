"""`/readyz` fails, naming what froze, when no beat schedules or a feed is stale: with either,
riders get data that no longer moves while every dependency still answers.

The beat here is a real `celery beat` process on the test's hot-state Redis (its tasks go
to a private broker no worker reads); the feeds are stored as a build stores them.
"""

from __future__ import annotations

import os
import time

import pytest
from django.conf import settings as django_settings

from databus import keys
from databus.task_records import beat_status, beat_status_get
from schedule_engine.feeds.metrics import STALE_AFTER_BUILD_INTERVALS
from schedule_engine.feeds.store import FeedName
from schedule_engine.feeds.tests.test_views import store_feed_built_at
from tests.support.processes import start_celery_beat, start_redis, wait_for

HEARTBEAT_S = 1


@pytest.fixture
def scraper(settings) -> dict[str, str]:
    settings.METRICS_TOKEN = "beat-health-token-0123456789abcdef"
    return {"HTTP_AUTHORIZATION": f"Bearer {settings.METRICS_TOKEN}"}


@pytest.fixture
def private_broker_url(tmp_path):
    handle, port = start_redis(tmp_path / "broker")
    yield f"redis://127.0.0.1:{port}/0"
    handle.stop()


@pytest.mark.django_db
def test_readyz_fails_naming_beat_within_two_intervals_of_beat_stopping(
    client, settings, redis_client, scraper, private_broker_url, tmp_path
):
    settings.BEAT_HEARTBEAT_INTERVAL_S = HEARTBEAT_S
    env = dict(os.environ)
    env.update(
        REDIS_URL=django_settings.REDIS_URL,
        CELERY_BROKER_URL=private_broker_url,
        BEAT_HEARTBEAT_INTERVAL_S=str(HEARTBEAT_S),
        BEAT_LOCK_TTL_S="3",
        PYTHONUNBUFFERED="1",
    )
    beat = start_celery_beat(env, tmp_path / "beat", name="beat")
    try:
        wait_for(lambda: redis_client.exists(keys.BEAT_HEARTBEAT), 60, "beat's heartbeat")
        ready = client.get("/readyz", **scraper)
        assert ready.status_code == 200, ready.content
        assert ready.json()["checks"]["beat"]["ok"] is True
        metrics = client.get("/metrics", **scraper).content.decode()
        assert "databus_beat_heartbeat_timestamp_seconds " in metrics
        assert f"databus_beat_heartbeat_interval_seconds {float(HEARTBEAT_S)}" in metrics
    finally:
        beat.kill()  # dead, not stopped politely: nothing tells anyone but the silence
    stopped_at = time.time()

    def unready() -> bool:
        return client.get("/readyz").status_code == 503

    wait_for(unready, 2 * HEARTBEAT_S + 5, "/readyz to fail")
    anonymous = client.get("/readyz").json()
    assert (anonymous["status"], anonymous["failing"]) == ("fail", ["beat"])
    detail = client.get("/readyz", **scraper).json()["checks"]["beat"]
    assert detail["ok"] is False and "heartbeat" in detail["detail"]
    last_beat = beat_status_get(redis_client, stopped_at).at
    assert last_beat is not None and last_beat <= stopped_at


@pytest.mark.django_db
def test_readyz_is_ok_before_any_beat_ran(client, redis_client, scraper):
    body = client.get("/readyz", **scraper).json()
    assert body["failing"] == []
    assert body["checks"]["beat"]["ok"] is True
    assert body["checks"]["beat"]["detail"] == "beat not seen yet"


@pytest.mark.django_db
def test_readyz_fails_naming_feeds_when_one_is_older_than_its_bound(client, redis_client, scraper):
    now = int(time.time())
    limit = STALE_AFTER_BUILD_INTERVALS * django_settings.FEED_BUILD_INTERVAL_S
    store_feed_built_at(redis_client, FeedName.VEHICLE_POSITIONS, now)
    store_feed_built_at(redis_client, FeedName.ALERTS, now - limit - 10)

    response = client.get("/readyz", **scraper)

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failing"], body["warnings"]) == ("fail", ["feeds"], [])
    assert "alerts is" in body["checks"]["feeds"]["detail"]
    assert "trip_updates not built yet" in body["checks"]["feeds"]["detail"]
    assert "vehicle_positions" not in body["checks"]["feeds"]["detail"]


def test_a_heartbeat_is_stale_once_older_than_two_intervals(settings):
    settings.BEAT_HEARTBEAT_INTERVAL_S = 5
    now = 1_000.0
    assert not beat_status(now - 9.9, "b", 5.0, "b", now).stale
    assert beat_status(now - 10.1, "b", 5.0, "b", now).stale
    assert not beat_status(None, None, None, None, now).stale  # never seen
    # A beat that says it ticks more slowly is judged by its own interval.
    assert not beat_status(now - 30, "b", 20.0, None, now).stale
