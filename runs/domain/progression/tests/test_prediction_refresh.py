"""When a run's predictions are computed again (pure), and how the basis is stored."""

from __future__ import annotations

from dataclasses import replace

import pytest

from runs.domain.progression.prediction_refresh import RefreshConfig, basis_after, refresh_due
from runs.domain.progression.state import PREDICTION, MatchState, PredictionBasis
from runs.domain.progression.status import Phase
from runs.domain.telemetry.vehicle_stop_status import StopStatusCode

CONFIG = RefreshConfig(deviation_s=15.0, max_age_s=30.0)
LAST = PredictionBasis(1000.0, 40.0, Phase.ON_ROUTE, 3, StopStatusCode.IN_TRANSIT_TO)


@pytest.mark.parametrize(
    ("last", "now", "completed_stop", "due"),
    [
        (None, LAST, False, True),  # no prediction yet
        (LAST, replace(LAST, at=1005.0, delay_s=42.0), False, False),  # on its way
        (LAST, replace(LAST, at=1005.0, delay_s=42.0), True, True),  # a stop completed
        (LAST, replace(LAST, at=1005.0, stop_index=4), False, True),  # the next stop
        (LAST, replace(LAST, at=1005.0, status=StopStatusCode.INCOMING_AT), False, True),
        (LAST, replace(LAST, at=1005.0, phase=Phase.PRE_TRIP), False, True),  # back to layover
        (LAST, replace(LAST, at=1029.0, delay_s=54.9), False, False),  # under both limits
        (LAST, replace(LAST, at=1029.0, delay_s=55.0), False, True),  # 15 s later
        (LAST, replace(LAST, at=1029.0, delay_s=25.0), False, True),  # 15 s earlier
        (LAST, replace(LAST, at=1030.0), False, True),  # 30 s old
        (LAST, replace(LAST, at=999.0), False, True),  # before the basis: damaged, start over
    ],
)
def test_refresh_due(last, now, completed_stop, due):
    assert refresh_due(last, now, completed_stop=completed_stop, config=CONFIG) is due


def test_the_fold_keeps_the_basis_of_the_last_fix_it_refreshed_at():
    on_time = [(replace(LAST, at=LAST.at + s, delay_s=40.0 + s / 10), False) for s in range(1, 40)]
    # Refreshed at 30 s (the age), not at the fixes between, and not again by 39 s.
    assert basis_after(LAST, on_time, CONFIG) == on_time[29][0]
    assert basis_after(None, on_time[:3], CONFIG) == on_time[0][0]
    assert basis_after(LAST, [], CONFIG) is LAST


def test_the_basis_is_stored_with_the_state_and_a_damaged_one_reads_as_none():
    state = MatchState(scheduled_start=900.0, matched_at=1000.0, prediction=LAST)
    fields = state.to_redis()
    assert MatchState.from_redis(fields, scheduled_start=0.0) == state
    # The hot-state rebuild writes none; a field missing or unreadable: predicted afresh.
    assert PREDICTION not in MatchState(scheduled_start=900.0).to_redis()
    text = fields[PREDICTION]
    for damaged in (text.replace("1000.0", "nan"), text.replace("IN_TRANSIT_TO", "LATE"), "1;2"):
        assert (
            MatchState.from_redis({**fields, PREDICTION: damaged}, scheduled_start=0).prediction
            is None
        )
