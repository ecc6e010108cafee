"""The feed endpoints, `/metrics` and `/readyz` over HTTP, on feeds built from real hot state.

The feeds are served from Redis alone: a test that does not build a feed has no
database access (pytest-django refuses any query); building one reads which GTFS
version is current. No credentials either: GTFS-RT feeds are public.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from django.conf import settings
from django.utils.http import http_date
from google.transit import gtfs_realtime_pb2 as rt

from alerts.feed import alerts_feed_publish
from schedule_engine.feeds.builders import build_trip_updates
from schedule_engine.feeds.metrics import STALE_AFTER_BUILD_INTERVALS
from schedule_engine.feeds.store import FeedName, FeedSummary, StoredFeed, feed_save, payload_etag
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.fleet_hot_state import write_fleet
from tests.support.processes import free_port

VEHICLE_POSITIONS = "/gtfs-rt/vehicle-positions.pb"
TRIP_UPDATES = "/gtfs-rt/trip-updates.pb"


@pytest.fixture
def scraper(settings) -> dict[str, str]:
    """What a Prometheus scraper sends: the metrics token (also shows `/readyz` detail)."""
    settings.METRICS_TOKEN = "feeds-test-metrics-token-0123456789abcdef"
    return {"HTTP_AUTHORIZATION": f"Bearer {settings.METRICS_TOKEN}"}


@pytest.fixture
def published(db, redis_client):
    """The standard fleet's feeds, and the (empty) Alerts feed, built now."""
    now = int(time.time())
    fleet = write_fleet(redis_client, now)
    feeds_publish(redis_client, now=now)
    alerts_feed_publish(redis_client, now=now)
    return fleet


def test_before_the_first_build_both_feeds_answer_503_with_a_reason(client, redis_client):
    for url, name in ((VEHICLE_POSITIONS, "vehicle_positions"), (TRIP_UPDATES, "trip_updates")):
        response = client.get(url)

        assert response.status_code == 503
        body = response.json()
        assert (body["error"], body["feed"]) == ("feed_not_built", name)
        assert "not been built yet" in body["detail"]
        assert response["Retry-After"] == str(settings.FEED_BUILD_INTERVAL_S)


def test_feeds_are_protobuf_with_validators(client, published):
    for url in (VEHICLE_POSITIONS, TRIP_UPDATES):
        response = client.get(url)

        assert response.status_code == 200
        assert response["Content-Type"] == "application/x-protobuf"
        message = rt.FeedMessage()
        message.ParseFromString(response.content)
        assert message.header.gtfs_realtime_version == "2.0"
        assert response["Last-Modified"] == http_date(message.header.timestamp)
        assert response["ETag"] == payload_etag(response.content)


def test_a_cancelled_run_is_a_canceled_trip_and_a_vehicle_without_a_run_is_left_out(
    client, published
):
    message = rt.FeedMessage()
    message.ParseFromString(client.get(TRIP_UPDATES).content)

    by_run = {entity.id: entity.trip_update for entity in message.entity}
    assert by_run[published.canceled_run].trip.schedule_relationship == (rt.TripDescriptor.CANCELED)
    assert by_run[published.canceled_run].trip.trip_id == "T-102"
    assert by_run[published.in_progress_run].stop_time_update
    assert published.vehicle_without_run not in {tu.vehicle.id for tu in by_run.values()}


def test_a_matching_etag_answers_304_and_another_one_the_feed(client, published):
    etag = client.get(VEHICLE_POSITIONS)["ETag"]

    not_modified = client.get(VEHICLE_POSITIONS, HTTP_IF_NONE_MATCH=etag)
    changed = client.get(VEHICLE_POSITIONS, HTTP_IF_NONE_MATCH='"an-older-feed"')

    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified["ETag"] == etag
    assert changed.status_code == 200 and changed.content


def test_if_modified_since_answers_304_until_the_feed_is_newer(client, published, redis_client):
    last_modified = client.get(TRIP_UPDATES)["Last-Modified"]

    assert client.get(TRIP_UPDATES, HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304

    feeds_publish(redis_client, now=time.time() + 5)
    newer = client.get(TRIP_UPDATES, HTTP_IF_MODIFIED_SINCE=last_modified)
    assert newer.status_code == 200
    assert newer["Last-Modified"] != last_modified


def test_json_format_for_humans(client, published):
    response = client.get(TRIP_UPDATES, {"format": "json"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["header"]["gtfsRealtimeVersion"] == "2.0"
    relationships = {
        entity["id"]: entity["tripUpdate"]["trip"].get("scheduleRelationship", "SCHEDULED")
        for entity in body["entity"]
    }
    assert relationships[published.canceled_run] == "CANCELED"


def test_text_format_for_humans(client, published):
    response = client.get(VEHICLE_POSITIONS, {"format": "text"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    assert 'gtfs_realtime_version: "2.0"' in text
    assert f'id: "{published.vehicle_without_run}"' in text
    assert "incrementality: FULL_DATASET" in text


def test_an_unknown_format_is_a_400_naming_the_choices(client, published):
    response = client.get(VEHICLE_POSITIONS, {"format": "xml"})

    assert response.status_code == 400
    assert response.json()["detail"] == "format must be one of pb, json, text"


def test_redis_down_is_a_503_not_a_crash(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = client.get(TRIP_UPDATES)

    assert response.status_code == 503
    assert response.json()["error"] == "hot_state_unavailable"


def metric_value(text: str, name: str, feed: str) -> float:
    match = re.search(rf'^{name}{{feed="{feed}"}} (\S+)$', text, re.MULTILINE)
    assert match, f"{name} for {feed} not in /metrics"
    return float(match.group(1))


def test_metrics_show_feed_age_and_entity_counts(client, published, scraper):
    text = client.get("/metrics", **scraper).content.decode()

    for feed in ("vehicle_positions", "trip_updates"):
        assert 0 <= metric_value(text, "databus_feed_age_seconds", feed) < 60
        assert metric_value(text, "databus_feed_build_seconds", feed) > 0
    assert metric_value(text, "databus_feed_entities", "vehicle_positions") == 2
    assert metric_value(text, "databus_feed_entities", "trip_updates") == 2


def test_metrics_still_answer_when_redis_does_not(client, settings, scraper):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = client.get("/metrics", **scraper)

    assert response.status_code == 200
    assert 'databus_feed_age_seconds{feed="' not in response.content.decode()


def store_feed_built_at(client, name: FeedName, header_timestamp: int) -> None:
    payload = build_trip_updates([], now=header_timestamp).SerializeToString()
    summary = FeedSummary(name, header_timestamp, payload_etag(payload), 0, header_timestamp, 0.01)
    feed_save(client, StoredFeed(summary=summary, payload=payload))


@pytest.mark.django_db
def test_readyz_fails_when_a_feed_is_older_than_three_intervals(client, redis_client, scraper):
    now = int(time.time())
    limit = STALE_AFTER_BUILD_INTERVALS * settings.FEED_BUILD_INTERVAL_S
    store_feed_built_at(redis_client, FeedName.VEHICLE_POSITIONS, now)
    store_feed_built_at(redis_client, FeedName.TRIP_UPDATES, now - limit - 10)

    response = client.get("/readyz", **scraper)

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["warnings"], body["failing"]) == ("fail", [], ["feeds"])
    assert body["checks"]["feeds"]["ok"] is False
    assert "trip_updates is" in body["checks"]["feeds"]["detail"]
    assert "vehicle_positions" not in body["checks"]["feeds"]["detail"]


@pytest.mark.django_db
def test_readyz_is_ok_with_fresh_feeds(client, published, scraper):
    body = client.get("/readyz", **scraper).json()

    assert body["checks"]["feeds"] == {
        "ok": True,
        "latency_ms": body["checks"]["feeds"]["latency_ms"],
        "detail": "feeds fresh",
    }
    assert "feeds" not in body["warnings"]
