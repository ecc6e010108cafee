"""``decide``: the one function that says what an event does to a run. Pure.

It looks the (state, event) pair up in the table, evaluates every guard (common and
transition guards, all of them, so a refusal lists every reason) and returns a
``Decision``. Performing it (saving, recording, hot state) is the service's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from runs.domain.lifecycle.actions import Action
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.guards import GUARDS, Guard
from runs.domain.lifecycle.snapshot import EventContext, RunSnapshot
from runs.domain.lifecycle.states import RunState
from runs.domain.lifecycle.table import COMMON_GUARDS, TRANSITION_BY_KEY


class Refusal(StrEnum):
    NO_TRANSITION = "no_transition"  # the event is not allowed from this state
    UNAUTHORIZED = "unauthorized"  # only authorization guards refused
    GUARD_FAILED = "guard_failed"  # a condition on the run refused


@dataclass(frozen=True, slots=True)
class GuardResult:
    guard: Guard
    passed: bool
    reason: str  # empty when passed


@dataclass(frozen=True, slots=True)
class Decision:
    event: RunEvent
    source: RunState
    target: RunState  # equals source when refused
    accepted: bool
    guard_results: tuple[GuardResult, ...]
    actions: tuple[Action, ...]  # empty when refused
    refusal: Refusal | None = None
    message: str = ""

    @property
    def reasons(self) -> tuple[str, ...]:
        if self.refusal is Refusal.NO_TRANSITION:
            return (self.message,)
        return tuple(r.reason for r in self.guard_results if not r.passed)


def evaluate(guard: Guard, snapshot: RunSnapshot, context: EventContext) -> GuardResult:
    spec = GUARDS[guard]
    passed = bool(spec.predicate(snapshot, context))
    return GuardResult(guard, passed, "" if passed else spec.refusal)


def decide(snapshot: RunSnapshot, event: RunEvent, context: EventContext) -> Decision:
    transition = TRANSITION_BY_KEY.get((snapshot.state, event))
    guards = COMMON_GUARDS + (transition.guards if transition else ())
    results = tuple(evaluate(guard, snapshot, context) for guard in guards)
    if transition is None:
        return Decision(
            event,
            snapshot.state,
            snapshot.state,
            False,
            results,
            (),
            Refusal.NO_TRANSITION,
            f"{event.value} is not allowed from {snapshot.state.value}",
        )
    failed = [r for r in results if not r.passed]
    if not failed:
        return Decision(event, snapshot.state, transition.target, True, results, transition.actions)
    unauthorized = all(GUARDS[r.guard].authorization for r in failed)
    refusal = Refusal.UNAUTHORIZED if unauthorized else Refusal.GUARD_FAILED
    return Decision(
        event,
        snapshot.state,
        snapshot.state,
        False,
        results,
        (),
        refusal,
        "; ".join(r.reason for r in failed),
    )
