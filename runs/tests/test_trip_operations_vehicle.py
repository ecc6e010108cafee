"""A run's change of vehicle (``POST /api/runs/{id}/vehicle/``, event ``change_vehicle``) on
real PostgreSQL and Redis: the claim moves with the run, the metadata and projection follow,
the feeds name the new vehicle; refusals are recorded and leave the run on its vehicle."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from google.transit import gtfs_realtime_pb2 as rt

from databus import keys
from runs.domain.lifecycle.states import RunState
from runs.domain.telemetry import stop_time_updates as updates_contract
from runs.domain.tests.domain_values import STOPS
from runs.models import Run, RunLifecycleTransition
from runs.services.actors import actor_for_user
from runs.tests.fixtures.runs import new_run, walk_to, write_position
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish


def change(api, run: Run, vehicle_id: str):
    return api.post(f"/api/runs/{run.pk}/vehicle/", {"vehicle_id": vehicle_id}, format="json")


def last_transition(run: Run) -> RunLifecycleTransition:
    return RunLifecycleTransition.objects.filter(run=run).order_by("-id").first()


def feed(client, name: FeedName) -> rt.FeedMessage:
    message = rt.FeedMessage()
    message.ParseFromString(feed_get(client, name).payload)
    return message


@pytest.mark.parametrize("state", [RunState.INITIALIZED, RunState.TRACKING])
def test_the_claim_moves_with_the_run(
    state, run_in_state, other_vehicle, dispatcher_api, redis_client
):
    run = run_in_state(state)
    rid = str(run.pk)

    response = change(dispatcher_api, run, "V2")

    assert response.status_code == 200, response.json()
    assert response.json()["run"]["vehicle_id"] == "V2"
    run.refresh_from_db()
    assert (run.vehicle_id, run.run_lifecycle_state) == ("V2", state.value)
    assert redis_client.get(keys.vehicle_current_run("V2")) == rid
    assert redis_client.get(keys.vehicle_current_run("V1")) is None
    assert redis_client.get(keys.trip_current_run("T1")) == rid
    assert redis_client.hget(keys.run(rid), "vehicle_id") == "V2"
    assert redis_client.hget(keys.run(rid), "run_lifecycle_state") == state.value
    assert redis_client.hget(keys.vehicle_metadata("V2"), "label") == "Bus 2"
    assert redis_client.sismember(keys.FEED_DIRTY_VEHICLES, "V1")
    recorded = last_transition(run)
    assert (recorded.event, recorded.accepted, recorded.actor_role) == (
        "change_vehicle",
        True,
        "dispatcher",
    )
    assert recorded.payload["previous_vehicle_id"] == "V1"
    assert recorded.payload["vehicle_id"] == "V2"


@pytest.mark.parametrize("via", ["api", "admin"])
def test_the_feeds_name_the_new_vehicle(
    via, run_in_state, other_vehicle, dispatcher_api, client, redis_client
):
    run = run_in_state(RunState.IN_PROGRESS)
    if via == "api":
        assert change(dispatcher_api, run, "V2").status_code == 200
    else:
        client.force_login(User.objects.create_superuser("boss", "boss@example.org", None))
        client.post(
            "/admin/runs/run/",
            {
                "action": "change_vehicle",
                "_selected_action": [str(run.pk)],
                "apply": "1",
                "vehicle_id": "V2",
            },
        )
    run.refresh_from_db()
    write_position(redis_client, run, lat=STOPS[0][1], lon=STOPS[0][2], speed=5.0, age_s=1)
    now = int(time.time())
    predicted = updates_contract.StopTimeUpdates(
        timestamp=now,
        updates=(
            updates_contract.StopTimeUpdate(3, "S3", now + 60, now + 60, 30),
            updates_contract.StopTimeUpdate(4, "S4", now + 240, None, 60),
        ),
    )
    redis_client.hset(
        keys.run_stop_time_updates(str(run.pk)),
        mapping=updates_contract.validate_for_write(predicted),
    )

    feeds_publish(redis_client)

    positions = {
        e.vehicle.vehicle.id: e.vehicle
        for e in feed(redis_client, FeedName.VEHICLE_POSITIONS).entity
    }
    assert positions["V2"].trip.trip_id == "T1"
    assert not positions.get("V1") or positions["V1"].trip.trip_id != "T1"
    updates = [
        e.trip_update
        for e in feed(redis_client, FeedName.TRIP_UPDATES).entity
        if e.HasField("trip_update") and e.trip_update.trip.trip_id == "T1"
    ]
    assert [update.vehicle.id for update in updates] == ["V2"]


def test_a_claimed_vehicle_is_refused_and_recorded(
    run_in_state, other_vehicle, other_operator, dispatcher, dispatcher_api, redis_client
):
    run = run_in_state(RunState.CONFIRMED)
    holder = walk_to(
        redis_client,
        new_run(other_vehicle, other_operator, "T2"),
        RunState.INITIALIZED,
        actor_for_user(dispatcher),
    )

    response = change(dispatcher_api, run, "V2")

    assert response.status_code == 409
    assert response.json()["code"] == "refused"
    run.refresh_from_db()
    assert run.vehicle_id == "V1"
    assert redis_client.get(keys.vehicle_current_run("V1")) == str(run.pk)
    assert redis_client.get(keys.vehicle_current_run("V2")) == str(holder.pk)
    recorded = last_transition(run)
    assert (recorded.event, recorded.accepted) == ("change_vehicle", False)
    failed = [g["guard"] for g in recorded.guard_results if not g["passed"]]
    assert failed == ["new_vehicle_unclaimed"]
    assert recorded.payload["vehicle_id"] == "V2"


def test_an_operator_may_not_change_the_vehicle(
    run_in_state, other_vehicle, operator_api, redis_client
):
    run = run_in_state(RunState.CONFIRMED)  # the operator's own run

    response = change(operator_api, run, "V2")

    assert response.status_code == 403
    run.refresh_from_db()
    assert run.vehicle_id == "V1"
    assert redis_client.get(keys.vehicle_current_run("V1")) == str(run.pk)
    recorded = last_transition(run)
    assert (recorded.accepted, recorded.actor_role, recorded.refusal) == (
        False,
        "operator",
        "unauthorized",
    )


def test_a_finished_run_keeps_its_vehicle(run_in_state, other_vehicle, dispatcher_api):
    run = run_in_state(RunState.COMPLETED)
    response = change(dispatcher_api, run, "V2")
    assert response.status_code == 422
    run.refresh_from_db()
    assert run.vehicle_id == "V1"
    assert last_transition(run).refusal == "no_transition"


@pytest.mark.parametrize("vehicle_id", ["NOPE", "V1", ""])
def test_an_unknown_or_the_same_vehicle_is_a_400(run_in_state, dispatcher_api, vehicle_id):
    run = run_in_state(RunState.CONFIRMED)
    response = change(dispatcher_api, run, vehicle_id)
    assert response.status_code == 400
    assert "vehicle_id" in response.json()["errors"]


def test_a_change_that_does_not_commit_puts_hot_state_back(
    run_in_state, other_vehicle, dispatcher, redis_client, monkeypatch
):
    """Redis is written inside the transaction; when it fails after that, both vehicles'
    keys and the run's projection are as before, and so is the row."""
    from runs.services import hot_state, trip_operations

    run = run_in_state(RunState.TRACKING)
    rid = str(run.pk)

    def lost(*args, **kwargs):
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(hot_state, "vehicle_claim_release", lost)
    with pytest.raises(ConnectionError):
        trip_operations.run_vehicle_change(
            actor=actor_for_user(dispatcher), run_id=run.pk, vehicle_id="V2"
        )

    run.refresh_from_db()
    assert run.vehicle_id == "V1"
    assert redis_client.get(keys.vehicle_current_run("V1")) == rid
    assert redis_client.get(keys.vehicle_current_run("V2")) is None
    assert redis_client.hget(keys.run(rid), "vehicle_id") == "V1"
    assert not redis_client.exists(keys.vehicle_metadata("V2"))


def test_the_generic_events_endpoint_does_not_take_a_change_of_vehicle(
    run_in_state, other_vehicle, dispatcher_api
):
    """A body's details must not stand in for the claims the vehicle endpoint checks."""
    run = run_in_state(RunState.TRACKING)

    response = dispatcher_api.post(
        f"/api/runs/{run.pk}/events/",
        {"event": "change_vehicle", "details": {"vehicle_id": "V2", "vehicle_claimed_by": []}},
        format="json",
    )

    assert response.status_code == 400
    assert "event" in response.json()["errors"]
    run.refresh_from_db()
    assert run.vehicle_id == "V1"
