"""The lifecycle service on real PostgreSQL and Redis: every (state, event) pair.

Allowed pairs move the run, record the attempt and update hot state; every other
pair is refused, recorded, and leaves the row and all of hot state untouched.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from databus import keys
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import CLAIMING_STATES, FINAL_STATES, RunState
from runs.domain.lifecycle.table import TRANSITION_BY_KEY
from runs.models import RunLifecycleTransition
from runs.services.actors import actor_for_user
from runs.services.lifecycle import run_event_apply
from runs.tests.fixtures.runs import DETAILS, arrange_telemetry_for


def redis_contents(client) -> dict[str, object]:
    """Every key of the (test-private) hot-state database with its value."""
    contents = {}
    for key in client.keys("*"):
        kind = client.type(key)
        if kind == "hash":
            contents[key] = client.hgetall(key)
        elif kind == "string":
            contents[key] = client.get(key)
        elif kind == "set":
            contents[key] = client.smembers(key)
        elif kind == "zset":
            contents[key] = client.zrange(key, 0, -1, withscores=True)
    return contents


def apply_and_check(client, run, state: RunState, event: RunEvent, actor) -> None:
    transition = TRANSITION_BY_KEY.get((state, event))
    if transition is not None:
        arrange_telemetry_for(client, run, event)
    before_rows = RunLifecycleTransition.objects.filter(run=run).count()
    before_hot = redis_contents(client)

    outcome = run_event_apply(run_id=run.pk, event=event, details=DETAILS.get(event), actor=actor)

    run.refresh_from_db()
    recorded = RunLifecycleTransition.objects.filter(run=run).order_by("-id").first()
    assert RunLifecycleTransition.objects.filter(run=run).count() == before_rows + 1
    assert (recorded.event, recorded.from_state, recorded.actor_role) == (
        event.value,
        state.value,
        "dispatcher",
    )
    if transition is None:
        assert not outcome.decision.accepted
        assert not recorded.accepted and recorded.to_state == state.value
        assert run.run_lifecycle_state == state.value
        assert redis_contents(client) == before_hot
    else:
        assert outcome.decision.accepted, outcome.decision.reasons
        assert recorded.accepted and recorded.to_state == transition.target.value
        assert run.run_lifecycle_state == transition.target.value
        assert_hot_state_matches(client, run, transition.target)


@pytest.mark.parametrize("state", list(RunState), ids=str)
def test_every_event_from_each_state(state, run_in_state, redis_client, dispatcher):
    """Every event is tried from ``state``. Refused events leave the run as it was, so one
    run takes them all in turn; each allowed event gets a fresh run (the previous one is
    removed first: two runs cannot hold one vehicle)."""
    actor = actor_for_user(dispatcher)
    refused = [e for e in RunEvent if (state, e) not in TRANSITION_BY_KEY]
    allowed = [e for e in RunEvent if (state, e) in TRANSITION_BY_KEY]
    run = run_in_state(state)
    for event in refused:
        with naming_failures_after(event):
            apply_and_check(redis_client, run, state, event, actor)
    for event in allowed:
        run.delete()
        redis_client.flushdb()
        run = run_in_state(state)
        with naming_failures_after(event):
            apply_and_check(redis_client, run, state, event, actor)


@contextmanager
def naming_failures_after(event: RunEvent):
    """Name the event in any failure of the block."""
    try:
        yield
    except AssertionError as error:
        raise AssertionError(f"{event.value}: {error}") from error


def assert_hot_state_matches(client, run, state: RunState) -> None:
    """The hot state a run in ``state`` must have (DESIGN.md's sets and claims)."""
    rid = str(run.pk)
    projection = client.hgetall(keys.run(rid))
    if projection:
        assert projection["run_lifecycle_state"] == state.value
    tracked = {RunState.TRACKING, RunState.IN_PROGRESS, RunState.NO_SIGNAL}
    assert client.sismember(keys.RUNS_TRACKING, rid) == (state in tracked)
    assert client.sismember(keys.RUNS_IN_PROGRESS, rid) == (state is RunState.IN_PROGRESS)
    claimed = client.get(keys.vehicle_current_run(run.vehicle_id)) == rid
    assert claimed == (state in CLAIMING_STATES)
    assert (client.get(keys.trip_current_run(run.trip_id)) == rid) == claimed
    if state in CLAIMING_STATES:
        assert projection and client.hgetall(keys.run_trip(rid))["trip_id"] == run.trip_id
        assert client.hget(keys.vehicle_metadata(run.vehicle_id), "id") == run.vehicle_id
    if state in FINAL_STATES:
        assert client.zscore(keys.RUNS_LAST_SEEN, rid) is None
    # A cancellation of a run that was announced is published as a CANCELED trip.
    if state is RunState.CANCELLED and projection:
        assert client.zscore(keys.RUNS_CANCELED, rid) is not None
