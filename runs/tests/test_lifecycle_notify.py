"""Change, then notify: the lifecycle service tells databus.notify of a committed transition."""

from __future__ import annotations

import pytest

from databus import notify
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.services.actors import actor_for_user
from runs.services.lifecycle import run_event_apply

pytest_plugins = ["tests.support.notifications"]  # the `heard` fixture


@pytest.mark.django_db
def test_an_applied_event_is_notified_once_committed(
    run_in_state, dispatcher, heard, django_capture_on_commit_callbacks
):
    run = run_in_state(RunState.INITIALIZED)
    with django_capture_on_commit_callbacks() as callbacks:
        run_event_apply(
            run_id=run.pk,
            event=RunEvent.RUN_CONFIRMED_BY_OPERATOR,
            actor=actor_for_user(dispatcher),
        )
        assert heard.changes == []  # not before the commit
    for callback in callbacks:
        callback()
    assert heard.changes == [
        notify.RunStateChanged(
            run_id=str(run.pk),
            state="Confirmed",
            previous_state="Initialized",
            event="run_confirmed_by_operator",
            vehicle_id=run.vehicle_id,
            route_id="R1",
            trip_id="T1",
        )
    ]
    assert heard.feeds == []  # the lifecycle service publishes no feed


@pytest.mark.django_db
def test_a_refused_event_is_not_notified(
    run_in_state, dispatcher, heard, django_capture_on_commit_callbacks
):
    run = run_in_state(RunState.INITIALIZED)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = run_event_apply(
            run_id=run.pk, event=RunEvent.RUN_COMPLETED, actor=actor_for_user(dispatcher)
        )
    assert not outcome.decision.accepted
    assert heard.changes == []
