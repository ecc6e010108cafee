"""Reads are scoped like writes: an operator sees only the runs they operate, and another
operator's run does not exist for them (404 on every method); dispatchers see everything.
Operators read the fleet, but not which run another operator's vehicle is on."""

from __future__ import annotations

import pytest

from runs.domain.lifecycle.states import RunState
from runs.models import RunLifecycleTransition
from runs.services.actors import actor_for_user
from runs.tests.fixtures.people import token_client
from runs.tests.fixtures.runs import new_run, walk_to

pytestmark = pytest.mark.usefixtures("redis_client")


@pytest.fixture
def two_runs(run_in_state, other_operator, other_vehicle, redis_client, dispatcher):
    """``operator``'s run on V1 (T1) and ``other_operator``'s on V2 (T2), both in progress."""
    mine = run_in_state(RunState.IN_PROGRESS)
    theirs = walk_to(
        redis_client,
        new_run(other_vehicle, other_operator, "T2"),
        RunState.IN_PROGRESS,
        actor_for_user(dispatcher),
    )
    return mine, theirs


def test_an_operator_lists_only_their_own_runs(two_runs, operator_api, dispatcher_api):
    mine, theirs = two_runs
    listing = operator_api.get("/api/runs/").json()
    assert [r["id"] for r in listing["results"]] == [str(mine.pk)]
    assert listing["count"] == 1
    # A filter cannot widen the scope.
    assert operator_api.get("/api/runs/", {"vehicle_id": "V2"}).json()["count"] == 0
    everything = dispatcher_api.get("/api/runs/").json()
    assert {r["id"] for r in everything["results"]} == {str(mine.pk), str(theirs.pk)}


@pytest.mark.parametrize("suffix", ["", "state/", "history/"])
def test_another_operators_run_reads_as_missing(two_runs, operator_api, dispatcher_api, suffix):
    mine, theirs = two_runs
    assert operator_api.get(f"/api/runs/{mine.pk}/{suffix}").status_code == 200
    hidden = operator_api.get(f"/api/runs/{theirs.pk}/{suffix}")
    missing = operator_api.get(f"/api/runs/00000000-0000-4000-8000-000000000000/{suffix}")
    # The same answer as for a run that does not exist: nothing tells them apart.
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert dispatcher_api.get(f"/api/runs/{theirs.pk}/{suffix}").status_code == 200


def test_an_event_on_another_operators_run_is_404_and_changes_nothing(two_runs, operator_api):
    _mine, theirs = two_runs
    before = RunLifecycleTransition.objects.filter(run=theirs).count()
    response = operator_api.post(f"/api/runs/{theirs.pk}/events/", {"event": "run_interrupted"})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.run_lifecycle_state == RunState.IN_PROGRESS.value
    assert RunLifecycleTransition.objects.filter(run=theirs).count() == before


def test_an_operator_without_an_operator_record_sees_no_runs(two_runs, db):
    from runs.tests.fixtures.people import make_user

    ghost = token_client(make_user("ghost", "operator"))
    assert ghost.get("/api/runs/").json()["count"] == 0
    assert ghost.get(f"/api/runs/{two_runs[0].pk}/").status_code == 404


def test_operators_read_the_fleet_but_not_another_operators_current_run(
    two_runs, operator_api, dispatcher_api
):
    mine, theirs = two_runs
    fleet = operator_api.get("/api/vehicles/").json()
    assert [v["id"] for v in fleet["results"]] == ["V1", "V2"]
    own = operator_api.get("/api/vehicles/V1/").json()
    assert own["current_run_id"] == str(mine.pk)
    other = operator_api.get("/api/vehicles/V2/").json()
    assert other["position"] is not None  # public in VehiclePositions anyway
    assert other["current_run_id"] is None and other["stop_status"] is None
    assert dispatcher_api.get("/api/vehicles/V2/").json()["current_run_id"] == str(theirs.pk)
