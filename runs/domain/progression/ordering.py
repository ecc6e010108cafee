"""Matching a run's fixes in timestamp order, however they reach the workers: pure.

Several ingest workers share one MQTT subscription, so one vehicle's fixes are split
between them and may reach the matcher out of order: a worker behind the others holds
fixes older than the state another worker already wrote. Matching is a fold over the
fixes in timestamp order (``match_position`` from the state after the previous fix), so
the result of that fold is what every split must give. To get there the producer keeps,
per run, a short log of the fixes matched and a few checkpoints (the state after each
write), and ``plan_matching`` decides, for the fixes a batch brings:

- fixes newer than the stored state: matched from it, in timestamp order (the common
  path, whatever the batch's size: every fix is matched, not only the latest);
- a fix older than the stored state: the fold is resumed from the latest checkpoint
  before it, and every logged fix after that checkpoint is matched again with it;
- a fix the log already holds (same timestamp: a redelivery) changes nothing;
- a fix older than every checkpoint (later than the reorder window) is dropped, and
  counted: the only case where the result can differ from one worker's.

``match_fixes`` then runs the fold. The write that follows is a compare-and-set on the
state it started from (``MatchPlan.basis``): a worker that lost the race re-reads and
plans again, with the winner's fixes now in the log, so no fix is dropped for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from runs.domain.geometry import TripGeometry
from runs.domain.progression.config import ProgressionConfig
from runs.domain.progression.matching import Fix, MatchStep, match_position
from runs.domain.progression.state import MatchState
from runs.domain.progression.stop_events import StopCall


@dataclass(frozen=True, slots=True)
class MatchPlan:
    """What to match: ``fixes`` (timestamp order) folded from ``start``."""

    start: MatchState
    fixes: tuple[Fix, ...]
    dropped: int = 0  # fixes older than every checkpoint: not matched
    rewound: bool = False  # ``start`` is a checkpoint before the stored state


@dataclass(frozen=True, slots=True)
class MatchedRun:
    """The fold's result: the last step, and every stop event it produced, in order."""

    step: MatchStep
    events: tuple[StopCall, ...]
    # Every step, in order (the producer decides per fix when predictions are refreshed).
    steps: tuple[MatchStep, ...] = ()


def _order_key(fix: Fix) -> tuple:
    # Timestamp first; equal timestamps (two different fixes in one second) by content,
    # so that every split keeps the same one (the matcher ignores a fix not newer).
    return (
        fix.timestamp,
        fix.latitude,
        fix.longitude,
        -1.0 if fix.speed_mps is None else fix.speed_mps,
        -1.0 if fix.bearing_deg is None else fix.bearing_deg,
    )


def in_order(fixes: Iterable[Fix]) -> tuple[Fix, ...]:
    """One fix per timestamp, in timestamp order (the first by content on a tie)."""
    seen: set[float] = set()
    ordered = []
    for fix in sorted(fixes, key=_order_key):
        if fix.timestamp not in seen:
            seen.add(fix.timestamp)
            ordered.append(fix)
    return tuple(ordered)


def plan_matching(
    stored: MatchState,
    checkpoints: Sequence[MatchState],
    logged: Sequence[Fix],
    new: Iterable[Fix],
    *,
    replay_from: float | None = None,
) -> MatchPlan:
    """Which fixes to fold from which state so that the result is the in-order fold.

    ``stored`` is the run's current state, ``checkpoints`` earlier states (each the fold of
    the logged fixes up to its ``matched_at``), ``logged`` the fixes matched since the
    oldest checkpoint. ``replay_from``: the stop events of fixes from then on were not
    written durably, so they are produced again.
    """
    logged_at = {fix.timestamp for fix in logged}
    fresh = [fix for fix in in_order(new) if fix.timestamp not in logged_at]
    if stored.matched_at == 0.0 and not logged:
        return MatchPlan(stored, tuple(fresh))  # nothing matched yet: every fix is new
    # The stored state is itself a checkpoint: the fold of everything logged so far.
    known = [*checkpoints, stored]
    oldest = min(state.matched_at for state in known)
    late = [fix for fix in fresh if fix.timestamp <= oldest]
    fresh = [fix for fix in fresh if fix.timestamp > oldest]
    times = [fix.timestamp for fix in fresh]
    if replay_from is not None and replay_from > oldest:
        times.append(replay_from)
    if not times:
        return MatchPlan(stored, (), dropped=len(late))
    earliest = min(times)
    if earliest > stored.matched_at:
        return MatchPlan(stored, tuple(fresh), dropped=len(late))
    start = max(
        (state for state in known if state.matched_at < earliest),
        key=lambda state: state.matched_at,
    )
    replayed = in_order([*logged, *fresh])
    fixes = tuple(fix for fix in replayed if fix.timestamp > start.matched_at)
    return MatchPlan(start, fixes, dropped=len(late), rewound=True)


def match_fixes(
    geometry: TripGeometry, start: MatchState, fixes: Sequence[Fix], config: ProgressionConfig
) -> MatchedRun | None:
    """Fold ``fixes`` (timestamp order) from ``start``; None when there is none."""
    state, steps, events = start, [], []
    for fix in fixes:
        step = match_position(geometry, state, fix, config)
        state = step.state
        steps.append(step)
        events.extend(step.events)
    if not steps:
        return None
    return MatchedRun(steps[-1], tuple(events), tuple(steps))
