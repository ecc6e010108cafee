"""Data quality of the telemetry: what the position history and the dead letters say. Pure.

Per day (the agency's calendar day, local midnight to midnight):
- vehicles reporting: distinct vehicle ids with at least one stored position;
- ping interval: the time between a vehicle's consecutive stored positions, median and
  95th percentile (nearest rank); a gap over ``SESSION_BREAK_S`` is a vehicle off duty
  (overnight, in the depot), not an interval, and is left out;
- matched on-route: a position is matched when its timestamp lies within the span of a
  run of that vehicle, from the run's first recorded stop arrival to its last recorded
  departure (its arrival at the terminal): the progression had placed the vehicle on its
  trip then. Share = matched / positions;
- dead letters by reason: letters of the dead-letter stream received that day, counted
  by their reason code (``realtime_engine.ingest.decode.Reason``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

SESSION_BREAK_S = 3600


def matched_share(matched: int, positions: int) -> float | None:
    return matched / positions if positions else None


def reasons_counted(reasons: Iterable[str]) -> list[tuple[str, int]]:
    """(reason, count), most frequent first, then by name."""
    return sorted(Counter(reasons).items(), key=lambda item: (-item[1], item[0]))
