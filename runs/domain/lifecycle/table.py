"""The transition table of DESIGN.md, as data: (state, event) → target, guards, actions.

Nothing else in the code base decides which events are allowed from which state.
"""

from __future__ import annotations

from dataclasses import dataclass

from runs.domain.lifecycle.actions import Action
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.guards import Guard
from runs.domain.lifecycle.states import RunState

S, E, G, A = RunState, RunEvent, Guard, Action


@dataclass(frozen=True, slots=True)
class Transition:
    source: RunState
    event: RunEvent
    target: RunState
    guards: tuple[Guard, ...] = ()
    actions: tuple[Action, ...] = ()


# Checked before every event, whatever the table says.
COMMON_GUARDS: tuple[Guard, ...] = (G.ACTOR_MAY_ACT_ON_RUN,)

_FINISH = (A.SYNC_STATE, A.REMOVE_FROM_SETS, A.RELEASE_RESOURCES, A.EXPIRE_PROJECTION)
# DESIGN.md says "remove projection" for a cancellation; we publish it instead (CANCELED
# trip in TripUpdates, see schedule_engine.feeds.feed_inputs) and let it expire.
_CANCEL = (A.REMOVE_FROM_SETS, A.RELEASE_RESOURCES, A.PUBLISH_CANCELLATION)

TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        S.REQUESTED,
        E.VALIDATE_RUN,
        S.VALIDATED,
        (G.GTFS_VALID, G.RESOURCES_UNCLAIMED, G.TRIP_NOT_CANCELLED),
    ),
    Transition(S.REQUESTED, E.RUN_REJECTED, S.CANCELLED),
    Transition(
        S.VALIDATED,
        E.INITIALIZE_RUN,
        S.INITIALIZED,
        (G.GTFS_VALID, G.RESOURCES_UNCLAIMED, G.TRIP_NOT_CANCELLED),
        (A.WRITE_PROJECTION, A.CLAIM_RESOURCES, A.WRITE_VEHICLE_METADATA),
    ),
    Transition(S.VALIDATED, E.RUN_REJECTED, S.CANCELLED, (), (A.RELEASE_RESOURCES,)),
    Transition(S.INITIALIZED, E.RUN_CONFIRMED_BY_OPERATOR, S.CONFIRMED, (), (A.SYNC_STATE,)),
    Transition(S.INITIALIZED, E.RUN_REJECTED, S.CANCELLED, (G.CANCELLATION_AUTHORIZED,), _CANCEL),
    Transition(
        S.CONFIRMED,
        E.RUN_TRACKING_STARTED,
        S.TRACKING,
        (G.VEHICLE_TRACKED,),
        (A.SYNC_STATE, A.ADD_TO_TRACKING),
    ),
    Transition(S.CONFIRMED, E.CANCEL_RUN, S.CANCELLED, (G.CANCELLATION_AUTHORIZED,), _CANCEL),
    Transition(
        S.TRACKING,
        E.RUN_STARTED,
        S.IN_PROGRESS,
        (G.VEHICLE_MOVING,),
        (A.SYNC_STATE, A.ADD_TO_IN_PROGRESS),
    ),
    Transition(
        S.TRACKING,
        E.CANCEL_RUN,
        S.CANCELLED,
        (G.CANCELLATION_AUTHORIZED,),
        _CANCEL,
    ),
    # Stays in runs:tracking: that set is the periodic scan's work queue.
    Transition(
        S.IN_PROGRESS,
        E.RUN_TRACKING_LOST,
        S.NO_SIGNAL,
        (G.TELEMETRY_STALE,),
        (A.SYNC_STATE, A.REMOVE_FROM_IN_PROGRESS),
    ),
    Transition(
        S.IN_PROGRESS, E.RUN_INTERRUPTED, S.INTERRUPTED, (G.INTERRUPTION_AUTHORIZED,), _FINISH
    ),
    Transition(
        S.IN_PROGRESS,
        E.RUN_SHORT_TURNED,
        S.SHORT_TURNED,
        (G.SHORT_TURN_AUTHORIZED, G.SHORT_TURN_STOP_VALID),
        _FINISH,
    ),
    Transition(S.IN_PROGRESS, E.RUN_COMPLETED, S.COMPLETED, (G.AT_TERMINAL_STOP,), _FINISH),
    Transition(
        S.NO_SIGNAL,
        E.RUN_TRACKING_RESTORED,
        S.IN_PROGRESS,
        (G.TELEMETRY_FRESH, G.VEHICLE_TRACKED),
        (A.SYNC_STATE, A.ADD_TO_TRACKING, A.ADD_TO_IN_PROGRESS),
    ),
    Transition(S.NO_SIGNAL, E.RUN_TRACKING_EXPIRED, S.CANCELLED, (G.TELEMETRY_EXPIRED,), _CANCEL),
    # A dispatcher moves a run to another vehicle while it holds its resources: the state
    # stays; the row already names the new vehicle (runs.services.trip_operations), so the
    # projection, the claims and the metadata are written again from it.
    *(
        Transition(
            state,
            E.CHANGE_VEHICLE,
            state,
            (G.VEHICLE_CHANGE_AUTHORIZED, G.NEW_VEHICLE_UNCLAIMED, G.RESOURCES_UNCLAIMED),
            (A.WRITE_PROJECTION, A.CLAIM_RESOURCES, A.WRITE_VEHICLE_METADATA),
        )
        for state in (S.INITIALIZED, S.CONFIRMED, S.TRACKING, S.IN_PROGRESS, S.NO_SIGNAL)
    ),
)

TRANSITION_BY_KEY: dict[tuple[RunState, RunEvent], Transition] = {
    (t.source, t.event): t for t in TRANSITIONS
}


def cancellation_event(state: RunState) -> RunEvent | None:
    """The event that cancels a run from ``state`` (``cancel_run`` or ``run_rejected``)."""
    for event in (E.CANCEL_RUN, E.RUN_REJECTED):
        transition = TRANSITION_BY_KEY.get((state, event))
        if transition is not None and transition.target is S.CANCELLED:
            return event
    return None
