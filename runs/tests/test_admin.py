"""The run-management admin: lists, inline history, and lifecycle actions with refusals."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from runs.domain.lifecycle.states import RunState
from runs.models import RunLifecycleTransition, Vehicle

CHANGELIST = "/admin/runs/run/"


@pytest.fixture
def admin_client_(client, db):
    user = User.objects.create_superuser("boss", "boss@example.org", None)
    client.force_login(user)
    return client


def act(client, action: str, run, **extra):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(run.pk)], **extra}, follow=True
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_runs_list_with_filters_and_search(admin_client_, run_in_state):
    run = run_in_state(RunState.CONFIRMED)
    page = admin_client_.get(CHANGELIST, {"run_lifecycle_state": "Confirmed", "q": "T1"})
    assert page.status_code == 200
    assert str(run.pk) in page.content.decode()
    empty = admin_client_.get(CHANGELIST, {"run_lifecycle_state": "Completed"})
    assert str(run.pk) not in empty.content.decode()


def test_run_page_shows_its_history_read_only(admin_client_, run_in_state):
    run = run_in_state(RunState.CONFIRMED)
    page = admin_client_.get(f"{CHANGELIST}{run.pk}/change/").content.decode()
    assert "run_confirmed_by_operator" in page and "initialize_run" in page
    assert 'name="transitions-0-event"' not in page  # no editable inline rows


def test_confirm_and_cancel_actions_go_through_the_lifecycle(admin_client_, run_in_state):
    run = run_in_state(RunState.INITIALIZED)
    response = act(admin_client_, "confirm", run)
    assert any("→ Confirmed" in m for m in messages_of(response))
    act(admin_client_, "cancel", run)
    run.refresh_from_db()
    assert run.run_lifecycle_state == "Cancelled"
    last = RunLifecycleTransition.objects.filter(run=run).order_by("-id").first()
    assert (last.event, last.actor.username, last.actor_role) == (
        "cancel_run",
        "boss",
        "dispatcher",
    )


def test_a_refused_action_shows_every_reason(admin_client_, run_in_state):
    run = run_in_state(RunState.CONFIRMED)
    response = act(admin_client_, "interrupt", run)
    assert messages_of(response) == [
        "T1: run_interrupted refused: run_interrupted is not allowed from Confirmed"
    ]


def test_short_turn_offers_the_trip_s_stops_and_refuses_the_terminal(admin_client_, run_in_state):
    run = run_in_state(RunState.IN_PROGRESS)
    picker = admin_client_.post(
        CHANGELIST, {"action": "short_turn", "_selected_action": [str(run.pk)]}
    )
    options = picker.content.decode()
    assert 'value="S3"' in options and 'value="S4"' not in options
    refused = act(admin_client_, "short_turn", run, apply="1", stop_id="S4")
    assert (
        "refused: details.stop_id must be a stop of the trip other than its terminal"
        in (messages_of(refused)[0])
    )
    act(admin_client_, "short_turn", run, apply="1", stop_id="S2")
    run.refresh_from_db()
    assert run.run_lifecycle_state == "Short Turned"


def test_fleet_and_people_pages(admin_client_, vehicle, operator):
    for url in ("/admin/runs/vehicle/", "/admin/runs/operator/", "/admin/runs/company/"):
        assert admin_client_.get(url).status_code == 200


@pytest.mark.parametrize("vehicle_id", ["..", "-", "bus 7", "bus/7"])
def test_a_vehicle_id_ingest_would_refuse_cannot_be_registered(admin_client_, vehicle_id):
    response = admin_client_.post(
        "/admin/runs/vehicle/add/", {"id": vehicle_id, "label": "", "license_plate": ""}
    )
    assert response.status_code == 200  # the form again, with its error
    assert "a vehicle id is 1 to 64 of" in response.content.decode()
    assert not Vehicle.objects.filter(pk=vehicle_id).exists()


def test_a_vehicle_with_a_valid_id_is_registered(admin_client_):
    admin_client_.post(
        "/admin/runs/vehicle/add/", {"id": "bus-7", "label": "", "license_plate": ""}
    )
    assert Vehicle.objects.filter(pk="bus-7").exists()
