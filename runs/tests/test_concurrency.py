"""Two events racing on one run, on real PostgreSQL from two threads.

Exactly one applies; the other is refused (it sees the new state) or gets a
conflict (409) when the lock is held too long; the history shows both attempts.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.models import Run, RunLifecycleTransition
from runs.services.actors import actor_for_user
from runs.services.lifecycle import RunConflict, run_event_apply

pytestmark = pytest.mark.django_db(transaction=True)


def in_threads(*calls):
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as error:  # the caller inspects it
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_simultaneous_events_exactly_one_applies(run_in_state, dispatcher):
    run = run_in_state(RunState.INITIALIZED)
    actor = actor_for_user(dispatcher)
    before = RunLifecycleTransition.objects.filter(run=run).count()

    def send(event):
        return lambda: run_event_apply(run_id=run.pk, event=event, actor=actor)

    outcomes = in_threads(send(RunEvent.RUN_CONFIRMED_BY_OPERATOR), send(RunEvent.RUN_REJECTED))

    accepted = [o for o in outcomes if o.decision.accepted]
    refused = [o for o in outcomes if not o.decision.accepted]
    assert len(accepted) == 1 and len(refused) == 1
    run.refresh_from_db()
    assert run.run_lifecycle_state == accepted[0].decision.target.value
    # The loser saw the winner's state: its event is no longer allowed from there.
    assert refused[0].decision.source.value == run.run_lifecycle_state
    history = RunLifecycleTransition.objects.filter(run=run).order_by("id")[before:]
    assert sorted(h.accepted for h in history) == [False, True]


def test_a_run_locked_too_long_answers_409_and_records_the_attempt(
    run_in_state, dispatcher, settings
):
    settings.RUN_LOCK_TIMEOUT_MS = 200
    run = run_in_state(RunState.INITIALIZED)
    from runs.tests.fixtures.people import token_client

    api = token_client(dispatcher)
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock():
        with transaction.atomic():
            # What a concurrent lifecycle change holds (see runs.services.lifecycle).
            Run.objects.select_for_update(no_key=True).get(pk=run.pk)
            holding.set()
            release.wait(timeout=10)
        connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        response = api.post(f"/api/runs/{run.pk}/events/", {"event": "run_confirmed_by_operator"})
    finally:
        release.set()
        holder.join(timeout=10)
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    last = RunLifecycleTransition.objects.filter(run=run).order_by("-id").first()
    assert (last.event, last.accepted, last.refusal) == (
        "run_confirmed_by_operator",
        False,
        "conflict",
    )
    run.refresh_from_db()
    assert run.run_lifecycle_state == "Initialized"


def test_two_runs_initializing_on_one_vehicle_cannot_both_claim_it(
    gtfs_feed, vehicle, dispatcher, redis_client
):
    from runs.tests.fixtures.runs import new_run, walk_to

    actor = actor_for_user(dispatcher)
    first = walk_to(redis_client, new_run(vehicle, trip_id="T1"), RunState.VALIDATED, actor)
    second = walk_to(redis_client, new_run(vehicle, trip_id="T2"), RunState.VALIDATED, actor)

    def initialize(run):
        return lambda: run_event_apply(run_id=run.pk, event=RunEvent.INITIALIZE_RUN, actor=actor)

    outcomes = in_threads(initialize(first), initialize(second))
    applied = [o for o in outcomes if not isinstance(o, Exception) and o.decision.accepted]
    assert len(applied) == 1
    loser = next(o for o in outcomes if o not in applied)
    assert isinstance(loser, RunConflict) or not loser.decision.accepted
    assert Run.objects.filter(run_lifecycle_state="Initialized").count() == 1
