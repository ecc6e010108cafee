"""``GET /api/vehicles/{id}/positions/``: a vehicle's history, newest first, in a bounded
window, with the tracker's IO bag exactly as recorded; dispatchers only."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.utils import timezone

from realtime_engine.ingest.history import DatabaseTarget, HistoryWriter
from realtime_engine.ingest.streams.record import encode_record, receive_record
from realtime_engine.models import PositionRecord
from realtime_engine.positions_api import MAX_WINDOW
from runs.tests.fixtures.people import token_client

pytest_plugins = [
    "runs.tests.fixtures.feed",
    "runs.tests.fixtures.people",
    "runs.tests.fixtures.runs",
]

URL = "/api/vehicles/V1/positions/"


def record(vehicle_id: str, at: dt.datetime, **extra) -> PositionRecord:
    return PositionRecord.objects.create(
        vehicle_id=vehicle_id,
        timestamp=at,
        latitude=38.9,
        longitude=-77.0,
        received_at=at + dt.timedelta(seconds=1),
        **extra,
    )


@pytest.fixture
def track(vehicle, other_vehicle):
    """V1's fixes one, two and three hours ago (V2's in between: not V1's)."""
    now = timezone.now().replace(microsecond=0)
    fixes = [record("V1", now - dt.timedelta(hours=h), speed=float(h)) for h in (1, 2, 3)]
    record("V2", now - dt.timedelta(hours=2))
    return now, fixes


def test_the_history_is_newest_first_with_every_field(dispatcher_api, track):
    now, _ = track
    body = dispatcher_api.get(URL).json()
    assert body["count"] == 3
    first = body["results"][0]
    assert first == {
        "timestamp": (now - dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "latitude": 38.9,
        "longitude": -77.0,
        "bearing": None,
        "speed": 1.0,
        "odometer": None,
        "received_at": (now - dt.timedelta(hours=1, seconds=-1)).isoformat().replace("+00:00", "Z"),
        "attributes": {},
    }
    assert [r["speed"] for r in body["results"]] == [1.0, 2.0, 3.0]


def test_since_and_until_bound_the_window_half_open(dispatcher_api, track):
    now, fixes = track
    params = {"since": fixes[2].timestamp.isoformat(), "until": fixes[0].timestamp.isoformat()}
    body = dispatcher_api.get(URL, params).json()
    assert [r["speed"] for r in body["results"]] == [2.0, 3.0]  # since in, until out
    old = now - dt.timedelta(days=3)
    assert dispatcher_api.get(URL, {"until": old.isoformat()}).json()["count"] == 0


def test_pages_are_the_api_s_usual_ones(dispatcher_api, track):
    body = dispatcher_api.get(URL, {"limit": 2}).json()
    assert len(body["results"]) == 2 and body["next"] is not None
    assert [r["speed"] for r in dispatcher_api.get(body["next"]).json()["results"]] == [3.0]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"since": ""},
        {"until": "2026-01-01T00:00:00Z", "since": "2026-01-02T00:00:00Z"},
        {"until": "2026-01-01T00:00:00Z", "since": "2026-01-01T00:00:00Z"},
        {"since": "2026-01-01T00:00:00Z", "until": "2026-01-09T00:00:00Z"},
        {"until": "0001-01-01T00:00:00Z"},
        {"limit": "0"},
    ],
)
def test_a_bad_or_too_wide_window_is_a_400(dispatcher_api, vehicle, params):
    response = dispatcher_api.get(URL, params)
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid"


def test_the_widest_window_is_accepted(dispatcher_api, track):
    now, _ = track
    since = now - MAX_WINDOW
    assert (
        dispatcher_api.get(URL, {"since": since.isoformat(), "until": now.isoformat()}).json()[
            "count"
        ]
        == 3
    )


def test_an_unknown_vehicle_is_a_404(dispatcher_api, vehicle):
    assert dispatcher_api.get("/api/vehicles/nope/positions/").status_code == 404


def test_operators_are_refused_even_on_their_own_run_s_vehicle(operator_api, run_in_state, track):
    from runs.domain.lifecycle.states import RunState

    run_in_state(RunState.IN_PROGRESS)  # the operator's run, on V1
    response = operator_api.get(URL)
    assert response.status_code == 403
    assert "dispatchers" in response.json()["detail"]


def test_a_superuser_reads_it(track):
    from django.contrib.auth.models import User

    admin = User.objects.create_superuser("root", password="x")
    assert token_client(admin).get(URL).json()["count"] == 3


def test_a_streams_record_s_bag_reads_back_exactly(transactional_db, dispatcher, vehicle):
    """From the gateway's entry through the history writer to the API's JSON: the uint64
    is the same integer in the response text, the buffer its base64."""
    vehicle.tracker_imei = "356307042441013"
    vehicle.save()
    now = time.time()
    fields = encode_record(
        "356307042441013",
        timestamp_ms=int(now * 1000) - 2_000,
        latitude=38.9,
        longitude=-77.0,
        attributes={"240": 18446744073709551615, "78": b"\x00\x01\x02", "n": {"b": [b"\xff"]}},
    )

    class Devices:
        def vehicle_of_device(self, device_id):
            return "V1" if device_id == vehicle.tracker_imei else None

    position = receive_record("telemetry:avl", fields, now, Devices()).decoded
    writer = HistoryWriter(DatabaseTarget.from_django())
    try:
        writer.write([position])
    finally:
        writer.close()
    response = token_client(dispatcher).get(URL)
    assert b'"240":18446744073709551615' in response.content.replace(b" ", b"")
    assert json.loads(response.content)["results"][0]["attributes"] == {
        "240": 18446744073709551615,
        "78": "AAEC",
        "n": {"b": ["/w=="]},
    }
