"""Trip operations from the admin: the cancel-ahead add form, the add-trip and skip-stops
forms, the re-enable and end actions, and the run's change-vehicle action; each through
the same services as the API, recorded, and in the ``trip_operations`` hash."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User

from databus import keys
from runs.domain.lifecycle.states import RunState
from runs.domain.projections import trip_operations as contract
from runs.models import Run, RunLifecycleTransition, TripOperation, TripOperationAttempt
from runs.tests.fixtures.feed import TIMEZONE
from runs.tests.fixtures.people import make_user

OPERATIONS = "/admin/runs/tripoperation/"


@pytest.fixture
def tomorrow() -> dt.date:
    return dt.datetime.now(ZoneInfo(TIMEZONE)).date() + dt.timedelta(days=1)


@pytest.fixture
def boss(db) -> User:
    return User.objects.create_superuser("boss", "boss@example.org", None)


@pytest.fixture
def admin_post(client, boss, gtfs_feed, redis_client, django_capture_on_commit_callbacks):
    """POST as a superuser (a dispatcher), running the commit callbacks (Redis writes)."""
    client.force_login(boss)

    def post(path: str, data: dict):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data, follow=True)

    return post


def stored(client, operation: TripOperation) -> contract.TripOperationRecord | None:
    text = client.hget(keys.TRIP_OPERATIONS, str(operation.pk))
    return None if text is None else contract.decode(text).value


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_cancel_ahead_and_reenable(admin_post, redis_client, boss, tomorrow):
    response = admin_post(f"{OPERATIONS}add/", {"trip_id": "T1", "start_date": tomorrow})

    assert response.status_code == 200
    operation = TripOperation.objects.get()
    assert (operation.kind, operation.trip_id, operation.created_by) == ("cancel", "T1", boss)
    assert stored(redis_client, operation).kind is contract.TripOperationKind.CANCEL
    assert any("published" in m for m in messages_of(response))

    response = admin_post(OPERATIONS, {"action": "reenable", "_selected_action": [operation.pk]})

    operation.refresh_from_db()
    assert operation.ended_at is not None and operation.ended_by == boss
    assert stored(redis_client, operation) is None
    actions = list(TripOperationAttempt.objects.values_list("action", "accepted", "actor"))
    assert actions == [("cancel", True, boss.pk), ("reenable", True, boss.pk)]


def test_a_refused_cancel_shows_the_reason_on_its_field(admin_post, tomorrow):
    response = admin_post(f"{OPERATIONS}add/", {"trip_id": "NOPE", "start_date": tomorrow})
    assert response.status_code == 200
    assert "unknown trip" in str(response.context["form"].errors["trip_id"])
    assert not TripOperation.objects.exists()
    attempt = TripOperationAttempt.objects.get()
    assert (attempt.accepted, attempt.refusal) == (False, "invalid")


def test_add_a_trip_and_end_it(admin_post, redis_client, other_vehicle, tomorrow):
    stop_times = [
        {"stop_sequence": 1, "stop_id": "S1", "arrival_time": "10:00:00"},
        {"stop_sequence": 2, "stop_id": "S3", "arrival_time": "10:06:00"},
    ]
    admin_post(
        f"{OPERATIONS}add-trip/",
        {
            "trip_id": "X9",
            "route_id": "R1",
            "direction_id": "1",
            "start_date": tomorrow,
            "vehicle": "V2",
            "stop_times": json.dumps(stop_times),
        },
    )

    operation = TripOperation.objects.get()
    record = stored(redis_client, operation)
    assert (record.kind, record.trip_id, record.vehicle_id, record.direction_id) == (
        contract.TripOperationKind.ADD,
        "X9",
        "V2",
        1,
    )
    assert [s.stop_id for s in record.stop_times] == ["S1", "S3"]

    admin_post(OPERATIONS, {"action": "end", "_selected_action": [operation.pk]})
    assert stored(redis_client, operation) is None


def test_add_a_trip_with_unreadable_stop_times_is_refused_by_the_form(
    admin_post, other_vehicle, tomorrow
):
    response = admin_post(
        f"{OPERATIONS}add-trip/",
        {
            "trip_id": "X9",
            "route_id": "R1",
            "start_date": tomorrow,
            "vehicle": "V2",
            "stop_times": json.dumps([{"stop_sequence": 1, "stop_id": "S1"}]),
        },
    )
    assert "stop_times" in response.context["form"].errors
    assert not TripOperation.objects.exists()


def test_skip_stops_and_end(admin_post, redis_client, tomorrow):
    admin_post(
        f"{OPERATIONS}skip-stops/",
        {"trip_id": "T2", "start_date": tomorrow, "stop_sequences": "2, 3"},
    )
    operation = TripOperation.objects.get()
    assert stored(redis_client, operation).skipped_stop_sequences == (2, 3)

    admin_post(OPERATIONS, {"action": "end", "_selected_action": [operation.pk]})
    operation.refresh_from_db()
    assert operation.ended_at is not None
    assert stored(redis_client, operation) is None


def test_change_vehicle_action(admin_post, run_in_state, other_vehicle, redis_client):
    run = run_in_state(RunState.CONFIRMED)
    picker = admin_post(
        "/admin/runs/run/", {"action": "change_vehicle", "_selected_action": [str(run.pk)]}
    )
    assert "V2" in [v.pk for v in picker.context["vehicles"]]

    response = admin_post(
        "/admin/runs/run/",
        {
            "action": "change_vehicle",
            "_selected_action": [str(run.pk)],
            "apply": "1",
            "vehicle_id": "V2",
        },
    )

    assert any("now on vehicle V2" in m for m in messages_of(response))
    run = Run.objects.get(pk=run.pk)
    assert run.vehicle_id == "V2"
    assert redis_client.get(keys.vehicle_current_run("V2")) == str(run.pk)
    assert RunLifecycleTransition.objects.filter(run=run, event="change_vehicle").get().accepted


def test_staff_without_the_permission_cannot_open_the_forms(client, gtfs_feed):
    staff = make_user("staff", None)
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    client.force_login(staff)
    for form in ("add/", "add-trip/", "skip-stops/"):
        assert client.get(f"{OPERATIONS}{form}").status_code == 403
