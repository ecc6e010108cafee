"""Run lifecycle states (the stored values of ``Run.run_lifecycle_state``)."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    REQUESTED = "Requested"
    VALIDATED = "Validated"
    INITIALIZED = "Initialized"
    CONFIRMED = "Confirmed"
    TRACKING = "Tracking"
    IN_PROGRESS = "In Progress"
    NO_SIGNAL = "No Signal"
    COMPLETED = "Completed"
    INTERRUPTED = "Interrupted"
    SHORT_TURNED = "Short Turned"
    CANCELLED = "Cancelled"


# States in which a run holds its vehicle, trip and operator (the resource claims).
CLAIMING_STATES: frozenset[RunState] = frozenset(
    {
        RunState.INITIALIZED,
        RunState.CONFIRMED,
        RunState.TRACKING,
        RunState.IN_PROGRESS,
        RunState.NO_SIGNAL,
    }
)

# States no event leaves.
FINAL_STATES: frozenset[RunState] = frozenset(
    {RunState.COMPLETED, RunState.INTERRUPTED, RunState.SHORT_TURNED, RunState.CANCELLED}
)
