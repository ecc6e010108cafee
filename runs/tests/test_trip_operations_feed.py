"""End to end: each trip operation, made through the API and through the admin, is in the
next TripUpdates build (feed bytes parsed with gtfs-realtime-bindings), and leaves it when
re-enabled or ended. What each entity carries in detail is the feed's own tests'
(schedule_engine/feeds/tests); here: that the operation reaches riders at all."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from google.transit import gtfs_realtime_pb2 as rt

from runs.models import TripOperation
from runs.tests.fixtures.feed import TIMEZONE
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish

TU = rt.TripDescriptor
STU = rt.TripUpdate.StopTimeUpdate
STOP_TIMES = [
    {"stop_sequence": 1, "stop_id": "S1", "arrival_time": "10:00:00"},
    {"stop_sequence": 2, "stop_id": "S2", "arrival_time": "10:04:00"},
    {"stop_sequence": 3, "stop_id": "S4", "arrival_time": "10:10:00"},
]


@pytest.fixture
def tomorrow() -> dt.date:
    return dt.datetime.now(ZoneInfo(TIMEZONE)).date() + dt.timedelta(days=1)


@pytest.fixture
def poster(client, gtfs_feed, redis_client, other_vehicle, django_capture_on_commit_callbacks):
    """``poster(path, body)``: a superuser's POST (JSON for the API, a form for the admin),
    its commit callbacks run (the service writes Redis on commit)."""
    client.force_login(User.objects.create_superuser("boss", "boss@example.org", None))

    def post(path: str, body: dict | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            if path.startswith("/api/"):
                return client.post(path, body or {}, content_type="application/json")
            return client.post(path, body or {}, follow=True)

    return post


def trip_updates(client) -> dict[str, rt.TripUpdate]:
    feeds_publish(client)
    message = rt.FeedMessage()
    message.ParseFromString(feed_get(client, FeedName.TRIP_UPDATES).payload)
    return {e.trip_update.trip.trip_id: e.trip_update for e in message.entity}


def latest() -> TripOperation:
    return TripOperation.objects.order_by("-id").first()


@pytest.mark.parametrize("via", ["api", "admin"])
def test_cancel_ahead_then_reenable(via, poster, redis_client, tomorrow):
    if via == "api":
        poster("/api/trips/cancellations/", {"trip_id": "T1", "start_date": tomorrow.isoformat()})
    else:
        poster("/admin/runs/tripoperation/add/", {"trip_id": "T1", "start_date": tomorrow})
    operation = latest()

    update = trip_updates(redis_client)["T1"]

    assert update.trip.schedule_relationship == TU.CANCELED
    assert update.trip.start_date == tomorrow.strftime("%Y%m%d")
    if via == "api":
        poster(f"/api/trips/cancellations/{operation.pk}/reenable/")
    else:
        poster(
            "/admin/runs/tripoperation/", {"action": "reenable", "_selected_action": operation.pk}
        )
    assert "T1" not in trip_updates(redis_client)


@pytest.mark.parametrize("via", ["api", "admin"])
def test_an_added_trip_then_ended(via, poster, redis_client, tomorrow):
    common = {"trip_id": "X1", "route_id": "R1", "start_date": tomorrow.isoformat()}
    if via == "api":
        poster("/api/trips/added/", {**common, "vehicle_id": "V2", "stop_times": STOP_TIMES})
    else:
        poster(
            "/admin/runs/tripoperation/add-trip/",
            {**common, "vehicle": "V2", "stop_times": json.dumps(STOP_TIMES)},
        )
    operation = latest()

    update = trip_updates(redis_client)["X1"]

    assert update.trip.schedule_relationship in (TU.NEW, TU.ADDED)
    assert update.vehicle.id == "V2"
    assert [u.stop_id for u in update.stop_time_update] == ["S1", "S2", "S4"]
    if via == "api":
        poster(f"/api/trip-operations/{operation.pk}/end/")
    else:
        poster("/admin/runs/tripoperation/", {"action": "end", "_selected_action": operation.pk})
    assert "X1" not in trip_updates(redis_client)


@pytest.mark.parametrize("via", ["api", "admin"])
def test_skipped_stops_then_ended(via, poster, redis_client, tomorrow):
    if via == "api":
        poster(
            "/api/trips/skipped-stops/",
            {"trip_id": "T2", "start_date": tomorrow.isoformat(), "stop_sequences": [2, 3]},
        )
    else:
        poster(
            "/admin/runs/tripoperation/skip-stops/",
            {"trip_id": "T2", "start_date": tomorrow, "stop_sequences": "2,3"},
        )
    operation = latest()

    update = trip_updates(redis_client)["T2"]

    skipped = {
        u.stop_sequence for u in update.stop_time_update if u.schedule_relationship == STU.SKIPPED
    }
    assert skipped == {2, 3}
    if via == "api":
        poster(f"/api/trip-operations/{operation.pk}/end/")
    else:
        poster("/admin/runs/tripoperation/", {"action": "end", "_selected_action": operation.pk})
    assert "T2" not in trip_updates(redis_client)
