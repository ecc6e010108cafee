"""When a run's predictions are computed again: a pure decision per matched fix.

Predicting every remaining stop of a trip costs more than matching the fix, and most
fixes of a bus on its way change nothing a rider sees: the deviation from the schedule
moves by a second or two, the next stop stays the next stop. So the producer keeps, in
the run's matcher state, what the published predictions were computed from
(``state.PredictionBasis``), and ``refresh_due`` says, for each fix in timestamp order,
whether that fix's basis replaces it:

- there is no prediction yet (a new run, a state the hot-state rebuild resumed);
- the fix completed a stop (its observed times are published at once);
- the phase, the stop or the stop status changed (the predictor starts from the next
  stop; the feed's vehicle carries the status);
- the deviation moved by ``deviation_s`` or more since the last computation;
- the last computation is ``max_age_s`` old (a run never ages out of the feed, and the
  segment history and the uncertainty's horizon catch up).

Otherwise the stored stop time updates stay as they are. ``basis_after`` folds the
decision over a batch's fixes. It is a fold over the fixes from the state the match
started from, so the basis, and the predictions computed from it, are the same however
the fixes were batched or split between workers. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runs.domain.progression.state import PredictionBasis


@dataclass(frozen=True, slots=True)
class RefreshConfig:
    # A quarter of the minute riders' apps show, half the 30 s a consumer rounding to
    # minutes hides: a prediction kept within it is shown as the fresh one would mostly be.
    deviation_s: float = 15.0
    # Well under the feed's FEED_STOP_TIME_UPDATE_MAX_AGE_S (120 s): a moving run's trip
    # update is rewritten at least this often.
    max_age_s: float = 30.0


DEFAULT = RefreshConfig()


def refresh_due(
    last: PredictionBasis | None,
    now: PredictionBasis,
    *,
    completed_stop: bool,
    config: RefreshConfig = DEFAULT,
) -> bool:
    """Whether the fix whose basis is ``now`` computes the predictions again (``last``:
    the basis of the published ones; ``completed_stop``: the fix produced a stop event)."""
    if last is None or completed_stop:
        return True
    if now.stop_index != last.stop_index or now.status != last.status or now.phase != last.phase:
        return True
    age_s = now.at - last.at
    # A fix before the basis cannot follow it in one fold: a damaged state, start again.
    if age_s >= config.max_age_s or age_s < 0:
        return True
    return abs(now.delay_s - last.delay_s) >= config.deviation_s


def basis_after(
    last: PredictionBasis | None,
    fixes: Iterable[tuple[PredictionBasis, bool]],
    config: RefreshConfig = DEFAULT,
) -> PredictionBasis | None:
    """The basis after folding ``fixes`` (each fix's basis and whether it completed a stop,
    in timestamp order) from ``last``: that of the last fix the decision refreshed at."""
    for basis, completed_stop in fixes:
        if refresh_due(last, basis, completed_stop=completed_stop, config=config):
            last = basis
    return last
