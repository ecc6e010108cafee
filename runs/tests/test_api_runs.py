"""The runs REST API through HTTP: create, events, history, errors and roles."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from databus import keys
from runs.domain.lifecycle.states import RunState
from runs.models import RunLifecycleTransition
from runs.tests.fixtures.people import make_user, token_client

pytestmark = pytest.mark.usefixtures(
    "gtfs_feed", "redis_client", "vehicle", "login_counters_cleared"
)

SIGN_ON = {"vehicle_id": "V1", "trip_id": "T1", "start_date": "2026-11-22"}


def create(api, **changes):
    return api.post("/api/runs/", {**SIGN_ON, **changes}, format="json")


def test_login_gives_a_token_that_authenticates(db):
    user = make_user("someone", "dispatcher", password="s3cret-pass")
    anonymous = APIClient()
    wrong = anonymous.post("/api/login/", {"username": "someone", "password": "nope"})
    assert wrong.status_code == 400
    assert wrong.json()["errors"] == {"non_field_errors": ["wrong username or password"]}
    token = anonymous.post("/api/login/", {"username": "someone", "password": "s3cret-pass"})
    assert token.status_code == 200
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    me = anonymous.get("/api/me/").json()
    assert (me["username"], me["role"], me["id"]) == ("someone", "dispatcher", user.pk)


def test_unauthenticated_requests_get_401(db):
    client = APIClient()
    for url in ("/api/me/", "/api/runs/", "/api/vehicles/", f"/api/runs/{uuid.uuid4()}/"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json()["code"] == "not_authenticated"
    assert client.post("/api/runs/", SIGN_ON, format="json").status_code == 401


def test_a_user_without_a_role_gets_403(db):
    response = token_client(make_user("nobody", None)).get("/api/runs/")
    assert response.status_code == 403


def test_create_validates_and_initializes_in_one_call(dispatcher_api, operator, redis_client):
    response = create(dispatcher_api, operator_id=operator.pk)
    assert response.status_code == 201, response.json()
    run = response.json()
    assert run["run_lifecycle_state"] == RunState.INITIALIZED.value
    # Route, shape, direction and start time come from the current feed.
    assert (run["route_id"], run["shape_id"], run["direction_id"], run["start_time"]) == (
        "R1",
        "SH1",
        0,
        "08:00:00",
    )
    assert redis_client.get(keys.vehicle_current_run("V1")) == run["id"]
    assert redis_client.get(keys.trip_current_run("T1")) == run["id"]
    assert redis_client.get(keys.operator_current_run(str(operator.pk))) == run["id"]
    assert redis_client.hget(keys.run(run["id"]), "run_lifecycle_state") == "Initialized"
    assert redis_client.hgetall(keys.run_trip(run["id"]))["trip_id"] == "T1"
    assert redis_client.hgetall(keys.vehicle_metadata("V1"))["license_plate"] == "SJB-001"
    history = dispatcher_api.get(f"/api/runs/{run['id']}/history/").json()
    assert [(h["event"], h["accepted"], h["actor"]) for h in history] == [
        ("validate_run", True, "dispatch"),
        ("initialize_run", True, "dispatch"),
    ]


def test_create_for_a_trip_absent_from_the_current_feed_is_422_with_every_guard(
    dispatcher_api, redis_client
):
    response = create(dispatcher_api, trip_id="GHOST", route_id="R1")
    assert response.status_code == 422
    body = response.json()
    assert body["step"] == "validate_run"
    assert {g["guard"]: g["passed"] for g in body["guards"]} == {
        "actor_may_act_on_run": True,
        "gtfs_valid": False,
        "resources_unclaimed": True,
        "trip_not_cancelled": True,
    }
    assert redis_client.keys("*") == []


def test_create_with_a_vehicle_already_claimed_is_422(dispatcher_api, other_vehicle):
    assert create(dispatcher_api).status_code == 201
    response = create(dispatcher_api, trip_id="T2")  # same vehicle V1, another trip
    assert response.status_code == 422
    failed = [g["guard"] for g in response.json()["guards"] if not g["passed"]]
    assert failed == ["resources_unclaimed"]
    assert create(dispatcher_api, trip_id="T2", vehicle_id="V2").status_code == 201


def test_create_with_mismatching_route_is_422(dispatcher_api):
    response = create(dispatcher_api, route_id="R-OTHER")
    assert response.status_code == 422
    assert response.json()["guards"][1] == {
        "guard": "gtfs_valid",
        "passed": False,
        "reason": "route, trip, shape or direction do not match the current feed",
    }


def test_malformed_input_is_400_with_field_messages(dispatcher_api):
    response = dispatcher_api.post(
        "/api/runs/",
        {"vehicle_id": "NOPE", "start_date": "yesterday", "direction_id": 7},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"vehicle_id", "trip_id", "start_date", "direction_id"}
    assert errors["vehicle_id"] == ["no such vehicle"]


def test_events_move_the_run_and_refusals_are_422(dispatcher_api, operator):
    run_id = create(dispatcher_api, operator_id=operator.pk).json()["id"]
    confirmed = dispatcher_api.post(
        f"/api/runs/{run_id}/events/", {"event": "run_confirmed_by_operator"}, format="json"
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["run"]["run_lifecycle_state"] == "Confirmed"
    assert confirmed.json()["transition"]["actor_role"] == "dispatcher"
    refused = dispatcher_api.post(
        f"/api/runs/{run_id}/events/", {"event": "run_tracking_started"}, format="json"
    )
    assert refused.status_code == 422
    assert refused.json()["guards"][-1]["reason"] == "the vehicle has no fresh telemetry"
    not_allowed = dispatcher_api.post(
        f"/api/runs/{run_id}/events/", {"event": "run_completed"}, format="json"
    )
    assert not_allowed.status_code == 422
    assert not_allowed.json()["refusal"] == "no_transition"
    state = dispatcher_api.get(f"/api/runs/{run_id}/state/").json()
    assert state["run_lifecycle_state"] == "Confirmed"
    assert state["hot_state"]["run_lifecycle_state"] == "Confirmed"
    history = dispatcher_api.get(f"/api/runs/{run_id}/history/").json()
    assert [h["accepted"] for h in history] == [True, True, True, False, False]


def test_unknown_run_is_404_and_bad_event_is_400(dispatcher_api):
    for url in (f"/api/runs/{uuid.uuid4()}/", "/api/runs/not-a-uuid/state/"):
        assert dispatcher_api.get(url).status_code == 404
    missing = dispatcher_api.post(
        f"/api/runs/{uuid.uuid4()}/events/", {"event": "cancel_run"}, format="json"
    )
    assert missing.status_code == 404
    run_id = create(dispatcher_api).json()["id"]
    bad = dispatcher_api.post(f"/api/runs/{run_id}/events/", {"event": "fly"}, format="json")
    assert bad.status_code == 400
    assert "event" in bad.json()["errors"]


def test_operator_cannot_short_turn_and_body_role_changes_nothing(run_in_state, operator_api):
    run = run_in_state(RunState.IN_PROGRESS)
    response = operator_api.post(
        f"/api/runs/{run.pk}/events/",
        {"event": "run_short_turned", "details": {"stop_id": "S2"}, "actor_role": "dispatcher"},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    run.refresh_from_db()
    assert run.run_lifecycle_state == "In Progress"
    last = RunLifecycleTransition.objects.filter(run=run).order_by("-id").first()
    assert (last.event, last.accepted, last.actor_role) == ("run_short_turned", False, "operator")


def test_operator_may_interrupt_their_own_run_but_not_another(
    run_in_state, operator_api, other_operator
):
    run = run_in_state(RunState.IN_PROGRESS)
    stranger = token_client(other_operator.user)
    # Another operator's run does not exist for them (runs/tests/test_api_scoping.py).
    denied = stranger.post(f"/api/runs/{run.pk}/events/", {"event": "run_interrupted"})
    assert denied.status_code == 404
    allowed = operator_api.post(f"/api/runs/{run.pk}/events/", {"event": "run_interrupted"})
    assert allowed.status_code == 200
    assert allowed.json()["run"]["run_lifecycle_state"] == "Interrupted"


def test_dispatcher_short_turns_at_a_stop_but_not_at_the_terminal(run_in_state, dispatcher_api):
    run = run_in_state(RunState.IN_PROGRESS)
    url = f"/api/runs/{run.pk}/events/"
    terminal = dispatcher_api.post(
        url, {"event": "run_short_turned", "details": {"stop_id": "S4"}}, format="json"
    )
    assert terminal.status_code == 422
    assert not terminal.json()["guards"][-1]["passed"]
    ok = dispatcher_api.post(
        url, {"event": "run_short_turned", "details": {"stop_id": "S3"}}, format="json"
    )
    assert ok.status_code == 200
    assert ok.json()["run"]["run_lifecycle_state"] == "Short Turned"


def test_operator_signs_on_as_themselves(operator_api, operator, other_operator):
    mine = create(operator_api)
    assert mine.status_code == 201
    assert mine.json()["operator_id"] == operator.pk
    theirs = create(operator_api, trip_id="T2", operator_id=other_operator.pk)
    assert theirs.status_code == 403


def test_run_list_filters_and_paginates(dispatcher_api, other_vehicle):
    create(dispatcher_api)
    create(dispatcher_api, vehicle_id="V2", trip_id="T2")
    listing = dispatcher_api.get("/api/runs/", {"vehicle_id": "V2"}).json()
    assert listing["count"] == 1 and listing["results"][0]["trip_id"] == "T2"
    assert dispatcher_api.get("/api/runs/", {"state": "Initialized"}).json()["count"] == 2
    assert dispatcher_api.get("/api/runs/", {"state": "Completed"}).json()["count"] == 0
    assert (
        dispatcher_api.get("/api/runs/", {"route_id": "R1", "date": "2026-11-22"}).json()["count"]
        == 2
    )
    assert dispatcher_api.get("/api/runs/", {"limit": 1}).json()["next"]
    assert dispatcher_api.get("/api/runs/", {"state": "Flying"}).status_code == 400


def test_an_operator_without_an_operator_record_cannot_sign_on(db):
    response = create(token_client(make_user("ghost-driver", "operator")))
    assert response.status_code == 403
    assert response.json()["detail"] == "your account has the operator role but no operator record"
