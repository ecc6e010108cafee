"""Trip operations through the REST API on real PostgreSQL and Redis: cancel ahead and
re-enable, add a trip, skip stops, end, list; each attempt recorded, each operation in the
``trip_operations`` hash as its contract decodes it, the refusals with their statuses.

The tiny feed (runs/tests/fixtures/feed.py): route R1, trips T1 (08:00) and T2 (09:00)
along S1 … S4 every day, agency time zone America/Costa_Rica.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User

from databus import keys
from realtime_engine.hot_state_rebuild import hot_state_rebuild
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.projections import trip_operations as contract
from runs.models import Run, TripOperation, TripOperationAttempt
from runs.services.actors import actor_for_user
from runs.services.lifecycle import run_event_apply
from runs.services.trip_operations import trip_operations_sync
from runs.tests.fixtures.feed import TIMEZONE
from runs.tests.fixtures.people import make_user, token_client
from schedule_engine.service_days import service_day_origin

TZ = ZoneInfo(TIMEZONE)
MARGIN_S = 3600  # CANCELED_TRIP_PUBLISH_MARGIN_S's default


@pytest.fixture
def tomorrow() -> dt.date:
    """A service day whose trips are all still ahead."""
    return dt.datetime.now(TZ).date() + dt.timedelta(days=1)


class Committing:
    """An API client whose every request runs its commit callbacks (the test's transaction
    never commits; the service writes Redis on commit)."""

    def __init__(self, client, capture):
        self.client, self.capture = client, capture

    def post(self, *args, **kwargs):
        with self.capture(execute=True):
            return self.client.post(*args, **kwargs)

    def get(self, *args, **kwargs):
        return self.client.get(*args, **kwargs)


@pytest.fixture
def ready(gtfs_feed, redis_client, vehicle, other_vehicle, dispatcher, settings):
    settings.CANCELED_TRIP_PUBLISH_MARGIN_S = MARGIN_S
    return redis_client


@pytest.fixture
def dispatcher_api(dispatcher_api, django_capture_on_commit_callbacks):
    return Committing(dispatcher_api, django_capture_on_commit_callbacks)


def at(date: dt.date, hhmmss: str) -> int:
    """POSIX s of a service-day time in the agency's time zone."""
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return int(service_day_origin(date, TZ).timestamp()) + h * 3600 + m * 60 + s


def stored(client, operation_id) -> contract.TripOperationRecord | None:
    text = client.hget(keys.TRIP_OPERATIONS, str(operation_id))
    return None if text is None else contract.decode(text).value


def last_attempt() -> TripOperationAttempt:
    return TripOperationAttempt.objects.order_by("-id").first()


ADDED = {
    "trip_id": "X1",
    "route_id": "R1",
    "direction_id": 0,
    "vehicle_id": "V2",
    "stop_times": [
        {"stop_sequence": 1, "stop_id": "S1", "arrival_time": "10:00:00"},
        {"stop_sequence": 2, "stop_id": "S2", "arrival_time": "10:04:00"},
        {
            "stop_sequence": 3,
            "stop_id": "S4",
            "arrival_time": "10:10:00",
            "departure_time": "10:11:00",
        },
    ],
}


# --- cancel ahead, re-enable ---------------------------------------------------------


def test_cancel_ahead_is_recorded_and_published_until_the_trip_s_end(
    ready, dispatcher_api, dispatcher, tomorrow
):
    response = dispatcher_api.post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat()},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["trip_id"], body["start_time"]) == ("cancel", "T1", "08:00:00")
    record = stored(ready, body["id"])
    assert record is not None
    assert record.kind is contract.TripOperationKind.CANCEL
    assert (record.trip_id, record.start_date) == ("T1", tomorrow.strftime("%Y%m%d"))
    assert (record.route_id, record.direction_id, record.start_time) == ("R1", 0, "08:00:00")
    # T1 reaches its last stop at 08:09 of that day; published for the margin after it.
    assert record.active_until == at(tomorrow, "08:09:00") + MARGIN_S
    assert contract.is_published(record, record.active_from)
    attempt = last_attempt()
    assert (attempt.action, attempt.accepted, attempt.actor, attempt.actor_role) == (
        "cancel",
        True,
        dispatcher,
        "dispatcher",
    )
    assert attempt.operation_id == body["id"]
    assert attempt.payload["trip_id"] == "T1"


def test_cancel_ahead_with_an_explicit_bound(ready, dispatcher_api, tomorrow):
    until = dt.datetime.combine(tomorrow, dt.time(7, 30), tzinfo=TZ)
    response = dispatcher_api.post(
        "/api/trips/cancellations/",
        {"trip_id": "T2", "start_date": tomorrow.isoformat(), "until": until.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert stored(ready, response.json()["id"]).active_until == int(until.timestamp())


def test_reenable_ends_the_cancellation_and_leaves_the_hash(ready, dispatcher_api, tomorrow):
    created = dispatcher_api.post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat()},
        format="json",
    ).json()

    response = dispatcher_api.post(f"/api/trips/cancellations/{created['id']}/reenable/")

    assert response.status_code == 200, response.json()
    assert response.json()["ended_at"] is not None
    assert stored(ready, created["id"]) is None
    attempt = last_attempt()
    assert (attempt.action, attempt.accepted, attempt.operation_id) == (
        "reenable",
        True,
        created["id"],
    )
    # Re-enabled: the trip may be cancelled again; re-enabling twice is a conflict.
    again = dispatcher_api.post(f"/api/trips/cancellations/{created['id']}/reenable/")
    assert again.status_code == 409
    assert not last_attempt().accepted and last_attempt().refusal == "conflict"
    assert (
        dispatcher_api.post(
            "/api/trips/cancellations/",
            {"trip_id": "T1", "start_date": tomorrow.isoformat()},
            format="json",
        ).status_code
        == 201
    )


def test_a_trip_cancelled_twice_the_same_day_is_a_conflict(ready, dispatcher_api, tomorrow):
    body = {"trip_id": "T1", "start_date": tomorrow.isoformat()}
    assert dispatcher_api.post("/api/trips/cancellations/", body, format="json").status_code == 201
    response = dispatcher_api.post("/api/trips/cancellations/", body, format="json")
    assert response.status_code == 409
    assert "trip_id" in response.json()["errors"]
    assert TripOperation.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trip_id": "NOPE"}, "trip_id"),  # not in the current GTFS
        ({"start_date": "2025-06-01"}, "start_date"),  # outside the calendar: does not run
        ({"until": "2020-01-01T00:00:00Z"}, "until"),  # in the past
        ({"until": "2099-01-01T00:00:00Z"}, "until"),  # long after the trip is over
        ({"start_date": "not a date"}, "start_date"),
        ({"trip_id": "T" * 300}, "trip_id"),
    ],
)
def test_cancel_ahead_refusals_name_the_field(ready, dispatcher_api, tomorrow, body, field):
    response = dispatcher_api.post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat(), **body},
        format="json",
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert ready.hlen(keys.TRIP_OPERATIONS) == 0


def test_a_trip_a_run_operates_is_not_cancelled_ahead(
    ready, run_in_state, dispatcher_api, tomorrow
):
    run = run_in_state(RunState.CONFIRMED)
    Run.objects.filter(pk=run.pk).update(start_date=tomorrow)  # the run of that day
    response = dispatcher_api.post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat()},
        format="json",
    )
    assert response.status_code == 409
    assert str(run.pk) in response.json()["errors"]["trip_id"][0]
    attempt = last_attempt()
    assert (attempt.accepted, attempt.refusal) == (False, "conflict")


def test_a_run_of_another_day_does_not_hold_the_trip(ready, run_in_state, dispatcher_api, tomorrow):
    run_in_state(RunState.CONFIRMED)  # T1 on 2026-11-22
    response = dispatcher_api.post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat()},
        format="json",
    )
    assert response.status_code == 201


def test_an_operator_may_not_cancel_and_is_recorded(ready, operator, operator_api, tomorrow):
    response = operator_api.post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat()},
        format="json",
    )
    assert response.status_code == 403
    attempt = last_attempt()
    assert (attempt.accepted, attempt.refusal, attempt.actor, attempt.actor_role) == (
        False,
        "forbidden",
        operator.user,
        "operator",
    )
    assert not TripOperation.objects.exists()


def test_a_plain_user_may_not_cancel(ready, tomorrow):
    response = token_client(make_user("nobody", None)).post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat()},
        format="json",
    )
    assert response.status_code == 403
    assert not TripOperation.objects.exists()


# --- add a trip ----------------------------------------------------------------------


def test_an_added_trip_is_published_with_its_stop_times_and_vehicle(
    ready, dispatcher_api, tomorrow
):
    response = dispatcher_api.post(
        "/api/trips/added/", {**ADDED, "start_date": tomorrow.isoformat()}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["vehicle_id"], body["start_time"]) == ("add", "V2", "10:00:00")
    record = stored(ready, body["id"])
    assert record.kind is contract.TripOperationKind.ADD
    assert (record.trip_id, record.route_id, record.direction_id, record.vehicle_id) == (
        "X1",
        "R1",
        0,
        "V2",
    )
    assert record.start_time == "10:00:00"
    assert [(s.stop_sequence, s.stop_id, s.arrival, s.departure) for s in record.stop_times] == [
        (1, "S1", at(tomorrow, "10:00:00"), at(tomorrow, "10:00:00")),
        (2, "S2", at(tomorrow, "10:04:00"), at(tomorrow, "10:04:00")),
        (3, "S4", at(tomorrow, "10:10:00"), at(tomorrow, "10:11:00")),
    ]
    assert record.active_until == at(tomorrow, "10:10:00") + MARGIN_S
    # The feed's VehicleDescriptor of the added trip comes from the vehicle's metadata.
    assert ready.hgetall(keys.vehicle_metadata("V2"))["label"] == "Bus 2"
    assert last_attempt().action == "add" and last_attempt().accepted

    ended = dispatcher_api.post(f"/api/trip-operations/{body['id']}/end/")
    assert ended.status_code == 200
    assert stored(ready, body["id"]) is None
    assert (last_attempt().action, last_attempt().accepted) == ("end", True)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trip_id": "T1"}, "trip_id"),  # in the schedule already
        ({"route_id": "R9"}, "route_id"),
        ({"vehicle_id": "NOPE"}, "vehicle_id"),
        ({"start_date": "2026-01-05"}, "start_date"),  # its times are over
        (
            {
                "stop_times": [
                    {"stop_sequence": 1, "stop_id": "S1", "arrival_time": "10:00:00"},
                    {"stop_sequence": 2, "stop_id": "S99", "arrival_time": "10:04:00"},
                ]
            },
            "stop_times",
        ),
        (
            {
                "stop_times": [
                    {"stop_sequence": 1, "stop_id": "S1", "arrival_time": "10:05:00"},
                    {"stop_sequence": 2, "stop_id": "S2", "arrival_time": "10:04:00"},
                ]
            },
            "stop_times",
        ),
        (
            {"stop_times": [{"stop_sequence": 1, "stop_id": "S1", "arrival_time": "10"}]},
            "stop_times",
        ),
    ],
)
def test_add_refusals_name_the_field(ready, dispatcher_api, tomorrow, change, field):
    response = dispatcher_api.post(
        "/api/trips/added/", {**ADDED, "start_date": tomorrow.isoformat(), **change}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert not TripOperation.objects.exists()


def test_a_vehicle_a_run_claims_runs_no_added_trip(ready, run_in_state, dispatcher_api, tomorrow):
    run_in_state(RunState.INITIALIZED)  # holds V1
    response = dispatcher_api.post(
        "/api/trips/added/",
        {**ADDED, "vehicle_id": "V1", "start_date": tomorrow.isoformat()},
        format="json",
    )
    assert response.status_code == 409
    assert "vehicle_id" in response.json()["errors"]
    assert (last_attempt().accepted, last_attempt().refusal) == (False, "conflict")


# --- skip stops ----------------------------------------------------------------------


def test_skipped_stops_are_published_and_ended(ready, dispatcher_api, tomorrow):
    response = dispatcher_api.post(
        "/api/trips/skipped-stops/",
        {"trip_id": "T2", "start_date": tomorrow.isoformat(), "stop_sequences": [3, 2]},
        format="json",
    )

    assert response.status_code == 201, response.json()
    operation_id = response.json()["id"]
    record = stored(ready, operation_id)
    assert record.kind is contract.TripOperationKind.SKIP_STOPS
    assert (record.trip_id, record.skipped_stop_sequences) == ("T2", (2, 3))
    assert record.active_until == at(tomorrow, "09:09:00") + MARGIN_S
    listed = dispatcher_api.get("/api/trip-operations/").json()["results"]
    assert [op["id"] for op in listed] == [operation_id]

    assert dispatcher_api.post(f"/api/trip-operations/{operation_id}/end/").status_code == 200
    assert stored(ready, operation_id) is None
    assert dispatcher_api.get("/api/trip-operations/").json()["results"] == []


def test_a_skip_with_a_detour_alert_ends_with_it(ready, dispatcher_api, tomorrow):
    from alerts.models import ServiceAlert

    response = dispatcher_api.post(
        "/api/trips/skipped-stops/",
        {
            "trip_id": "T2",
            "start_date": tomorrow.isoformat(),
            "stop_sequences": [2, 3],
            "detour_alert": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    alert = ServiceAlert.objects.get(pk=body["alert_id"])
    assert alert.effect == "DETOUR" and alert.ended_at is None
    entities = set(alert.informed_entities.values_list("trip_id", "trip_start_date", "stop_id"))
    assert entities == {("T2", tomorrow, ""), ("T2", tomorrow, "S2"), ("T2", tomorrow, "S3")}
    period = alert.active_periods.get()
    assert int(period.end.timestamp()) == stored(ready, body["id"]).active_until

    dispatcher_api.post(f"/api/trip-operations/{body['id']}/end/")
    alert.refresh_from_db()
    assert alert.ended_at is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stop_sequences": [7]}, "stop_sequences"),  # T2 has stops 1 … 4
        ({"stop_sequences": [1, 2, 3, 4]}, "stop_sequences"),  # every stop: a cancellation
        ({"stop_sequences": []}, "stop_sequences"),
        ({"trip_id": "NOPE"}, "trip_id"),
    ],
)
def test_skip_refusals_name_the_field(ready, dispatcher_api, tomorrow, change, field):
    response = dispatcher_api.post(
        "/api/trips/skipped-stops/",
        {"trip_id": "T2", "start_date": tomorrow.isoformat(), "stop_sequences": [2], **change},
        format="json",
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_end_and_reenable_each_take_their_own_kind(ready, dispatcher_api, tomorrow):
    cancel = dispatcher_api.post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat()},
        format="json",
    ).json()
    skip = dispatcher_api.post(
        "/api/trips/skipped-stops/",
        {"trip_id": "T2", "start_date": tomorrow.isoformat(), "stop_sequences": [2]},
        format="json",
    ).json()
    assert dispatcher_api.post(f"/api/trip-operations/{cancel['id']}/end/").status_code == 400
    assert (
        dispatcher_api.post(f"/api/trips/cancellations/{skip['id']}/reenable/").status_code == 400
    )
    assert dispatcher_api.post("/api/trip-operations/999999/end/").status_code == 404
    assert stored(ready, cancel["id"]) and stored(ready, skip["id"])


def test_the_list_is_read_by_operators_too(ready, dispatcher_api, operator_api, tomorrow):
    dispatcher_api.post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat()},
        format="json",
    )
    response = operator_api.get("/api/trip-operations/", {"kind": "cancel"})
    assert response.status_code == 200
    assert [op["trip_id"] for op in response.json()["results"]] == ["T1"]
    assert operator_api.post(f"/api/trip-operations/{1}/end/").status_code == 403


# --- hot state lost ------------------------------------------------------------------


def test_the_hot_state_rebuild_restores_the_hash(ready, dispatcher_api, tomorrow):
    ids = [
        dispatcher_api.post(path, body, format="json").json()["id"]
        for path, body in (
            ("/api/trips/cancellations/", {"trip_id": "T1", "start_date": tomorrow.isoformat()}),
            ("/api/trips/added/", {**ADDED, "start_date": tomorrow.isoformat()}),
            (
                "/api/trips/skipped-stops/",
                {"trip_id": "T2", "start_date": tomorrow.isoformat(), "stop_sequences": [2]},
            ),
        )
    ]
    ended = dispatcher_api.post(
        "/api/trips/skipped-stops/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat(), "stop_sequences": [3]},
        format="json",
    ).json()["id"]
    dispatcher_api.post(f"/api/trip-operations/{ended}/end/")
    before = ready.hgetall(keys.TRIP_OPERATIONS)
    assert sorted(before) == sorted(str(i) for i in ids)

    ready.flushdb()  # Redis came back empty
    report = hot_state_rebuild(ready)

    assert report.rebuilt
    assert ready.hgetall(keys.TRIP_OPERATIONS) == before
    assert ready.hget(keys.vehicle_metadata("V2"), "label") == "Bus 2"  # the added trip's


def test_the_sync_drops_operations_past_their_bound(ready, dispatcher, tomorrow):
    from runs.services.trip_operations import trip_cancel_ahead

    outcome = trip_cancel_ahead(actor=actor_for_user(dispatcher), trip_id="T1", start_date=tomorrow)
    assert outcome.accepted
    until = outcome.operation.active_until.timestamp()
    assert trip_operations_sync(ready, now=until - 1) == 1
    assert trip_operations_sync(ready, now=until + 1) == 0
    assert ready.hlen(keys.TRIP_OPERATIONS) == 0


def test_superusers_dispatch(ready, tomorrow):
    boss = User.objects.create_superuser("boss", "boss@example.org", None)
    response = token_client(boss).post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat()},
        format="json",
    )
    assert response.status_code == 201


def test_two_cancels_racing_leave_one_and_record_the_other(
    ready, dispatcher, tomorrow, monkeypatch
):
    """The look for an open cancellation and the insert are not atomic: the partial unique
    index is what keeps one per trip and day; the loser is a recorded conflict."""
    from runs.services import trip_operations

    actor = actor_for_user(dispatcher)
    first = trip_operations.trip_cancel_ahead(actor=actor, trip_id="T1", start_date=tomorrow)
    # The second request looked before the first committed: it saw no open cancellation.
    monkeypatch.setattr(trip_operations, "_open", lambda *a: TripOperation.objects.none())

    second = trip_operations.trip_cancel_ahead(actor=actor, trip_id="T1", start_date=tomorrow)

    assert first.accepted and not second.accepted
    assert second.refusal is trip_operations.Refusal.CONFLICT
    assert TripOperation.objects.count() == 1
    assert (last_attempt().accepted, last_attempt().refusal) == (False, "conflict")


def test_beat_rewrites_the_hash_from_postgresql(ready, dispatcher, tomorrow):
    from databus.beat import BEAT_SCHEDULE
    from runs.services.trip_operations import trip_cancel_ahead
    from runs.tasks import trip_operations_sync as task

    assert BEAT_SCHEDULE["sync-trip-operations"]["task"] == task.name
    outcome = trip_cancel_ahead(actor=actor_for_user(dispatcher), trip_id="T1", start_date=tomorrow)
    ready.hset(keys.TRIP_OPERATIONS, "999", "left over")  # no row: dropped by the re-sync

    assert task.apply().get() == 1  # the write after commit never ran (no commit here)

    assert set(ready.hkeys(keys.TRIP_OPERATIONS)) == {str(outcome.operation.pk)}


def test_a_trip_cancelled_ahead_takes_no_run_until_re_enabled(
    ready, run_in_state, dispatcher, dispatcher_api, tomorrow
):
    """A driver signing on to a cancelled trip would have it published running and
    cancelled at once: validation refuses the run while the cancellation is in force."""
    cancelled = dispatcher_api.post(
        "/api/trips/cancellations/",
        {"trip_id": "T1", "start_date": tomorrow.isoformat()},
        format="json",
    ).json()
    run = run_in_state(RunState.REQUESTED)
    Run.objects.filter(pk=run.pk).update(start_date=tomorrow)  # T1 of the cancelled day
    actor = actor_for_user(dispatcher)

    refused = run_event_apply(run_id=run.pk, event=RunEvent.VALIDATE_RUN, actor=actor)

    assert not refused.decision.accepted
    failed = [g["guard"] for g in refused.transition.guard_results if not g["passed"]]
    assert failed == ["trip_not_cancelled"]
    assert "cancelled this trip" in refused.decision.message

    response = dispatcher_api.post(f"/api/trips/cancellations/{cancelled['id']}/reenable/")
    assert response.status_code == 200, response.json()
    accepted = run_event_apply(run_id=run.pk, event=RunEvent.VALIDATE_RUN, actor=actor)
    assert accepted.decision.accepted
