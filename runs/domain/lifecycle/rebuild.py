"""Which lifecycle actions re-create a run's hot state from its stored state alone.

After Redis lost its data (``realtime_engine.hot_state_rebuild``) every run that still
has hot state is re-projected by performing, from its row, the actions that the
transitions leading to its state performed: the same functions, so a rebuilt run is
indistinguishable from one that never lost anything. No event is applied and no
state changes. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from runs.domain.lifecycle.actions import Action
from runs.domain.lifecycle.states import RunState

A, S = Action, RunState

# Initialization wrote these; SYNC_STATE afterwards only kept the state field current,
# which WRITE_PROJECTION writes whole from the row.
_CLAIMED = (A.WRITE_PROJECTION, A.CLAIM_RESOURCES, A.WRITE_VEHICLE_METADATA)

# The claiming states and the actions that rebuild their runs' hot state. Finished runs
# keep nothing a feed or detector needs (a cancelled one: see ``rebuild_actions``).
REBUILD_ACTIONS: MappingProxyType[RunState, tuple[Action, ...]] = MappingProxyType(
    {
        S.INITIALIZED: _CLAIMED,
        S.CONFIRMED: _CLAIMED,
        S.TRACKING: (*_CLAIMED, A.ADD_TO_TRACKING),
        S.IN_PROGRESS: (*_CLAIMED, A.ADD_TO_TRACKING, A.ADD_TO_IN_PROGRESS),
        # Tracking lost keeps the run in runs:tracking, the stale scan's work queue.
        S.NO_SIGNAL: (*_CLAIMED, A.ADD_TO_TRACKING),
    }
)

# Runs the stale scan follows (runs:last_seen) and the map-matcher may hold a state for.
TRACKED_STATES: frozenset[RunState] = frozenset({S.TRACKING, S.IN_PROGRESS, S.NO_SIGNAL})


def rebuild_actions(state: RunState, entered_with: Iterable[Action] = ()) -> tuple[Action, ...]:
    """The actions that re-create the hot state of a run in ``state`` (none: nothing to do).

    ``entered_with``: the actions of the transition that entered ``state``, as recorded. A
    cancelled run is published as a CANCELED trip only if its cancellation was (a run
    rejected before initialization never was); the caller picks the runs whose
    publication still lasts.
    """
    if state is S.CANCELLED:
        return (A.PUBLISH_CANCELLATION,) if A.PUBLISH_CANCELLATION in entered_with else ()
    return REBUILD_ACTIONS.get(state, ())
