"""An observed stop event: when a run's vehicle arrived at and left one stop of its trip.

Produced by the matcher, written by the progression producer to the durable
stop-event table (the agency's on-time record) and read back, as history, by the
predictor.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventSource(StrEnum):
    OBSERVED = "observed"  # at least one fix fell inside the stop zone
    INTERPOLATED = "interpolated"  # fixes skipped the stop: time at its distance, linearly


@dataclass(frozen=True, slots=True)
class StopCall:
    """The vehicle's call at one stop, as the matcher saw it (stored as a ``StopEvent`` row)."""

    stop_sequence: int
    stop_id: str
    arrived_at: float  # POSIX seconds
    departed_at: float | None  # None at the trip's last stop
    source: EventSource
