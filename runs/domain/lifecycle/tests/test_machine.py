"""decide(): every (state, event) pair of the table, pure."""

from __future__ import annotations

import itertools

import pytest

from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.guards import Guard
from runs.domain.lifecycle.machine import Refusal, decide
from runs.domain.lifecycle.roles import ActorRole
from runs.domain.lifecycle.snapshot import ClaimHolders
from runs.domain.lifecycle.states import RunState
from runs.domain.lifecycle.table import TRANSITION_BY_KEY, TRANSITIONS, Transition
from runs.domain.tests.domain_values import NOW, at_terminal, context, snapshot

ALL_PAIRS = list(itertools.product(RunState, RunEvent))


def passing_snapshot(transition: Transition):
    """A snapshot in the transition's source state that satisfies its guards."""
    stale = {Guard.TELEMETRY_STALE, Guard.TELEMETRY_EXPIRED} & set(transition.guards)
    return snapshot(
        transition.source,
        last_seen=NOW - 10_000 if stale else NOW - 1,
        position=at_terminal()
        if Guard.AT_TERMINAL_STOP in transition.guards
        else None
        if stale
        else snapshot().position,
    )


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=lambda v: str(v))
def test_every_pair_moves_when_allowed_and_is_refused_otherwise(state, event):
    transition = TRANSITION_BY_KEY.get((state, event))
    if transition is None:
        decision = decide(snapshot(state), event, context())
        assert not decision.accepted
        assert decision.refusal is Refusal.NO_TRANSITION
        assert decision.target is state
        assert decision.actions == ()
        assert decision.reasons == (f"{event.value} is not allowed from {state.value}",)
    else:
        decision = decide(passing_snapshot(transition), event, context())
        assert decision.accepted, decision.reasons
        assert decision.target is transition.target
        assert decision.actions == transition.actions
        assert all(result.passed for result in decision.guard_results)


def test_the_table_has_the_sixteen_transitions_of_the_design_and_the_vehicle_changes():
    # DESIGN.md's sixteen, and change_vehicle from each of the five claiming states.
    assert len(TRANSITIONS) == 16 + 5
    assert len(TRANSITION_BY_KEY) == 16 + 5


def test_a_refusal_returns_every_guard_result_not_just_the_first():
    claimed = ClaimHolders(vehicle=("other-run",))
    decision = decide(
        snapshot(RunState.REQUESTED, scheduled_trip=None, claims=claimed, trip_cancelled=True),
        RunEvent.VALIDATE_RUN,
        context(),
    )
    assert not decision.accepted
    assert decision.refusal is Refusal.GUARD_FAILED
    results = {r.guard: r.passed for r in decision.guard_results}
    assert results == {
        Guard.ACTOR_MAY_ACT_ON_RUN: True,
        Guard.GTFS_VALID: False,
        Guard.RESOURCES_UNCLAIMED: False,
        Guard.TRIP_NOT_CANCELLED: False,
    }
    assert len(decision.reasons) == 3


def operator_decides(state: RunState, event: RunEvent, *, operates_run: bool):
    """decide() for an operator who operates the run, or someone else's."""
    return decide(
        snapshot(state), event, context(ActorRole.OPERATOR, actor_operates_run=operates_run)
    )


def test_an_operator_refused_only_by_authorization_is_unauthorized():
    decision = operator_decides(RunState.IN_PROGRESS, RunEvent.RUN_SHORT_TURNED, operates_run=True)
    assert decision.refusal is Refusal.UNAUTHORIZED
    assert decision.reasons == ("only dispatchers may short-turn a run",)


def test_an_operator_may_not_act_on_a_run_someone_else_operates():
    decision = operator_decides(RunState.CONFIRMED, RunEvent.CANCEL_RUN, operates_run=False)
    assert decision.refusal is Refusal.UNAUTHORIZED
    assert operator_decides(RunState.CONFIRMED, RunEvent.CANCEL_RUN, operates_run=True).accepted
