"""The rebuild plan, pure: which actions re-create a run's hot state, and the matcher resumed.

No Redis, no database: the transition table says what hot state each state has, and
the map-matcher driven along a straight trip says what a resumed state must do.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from runs.domain.lifecycle.actions import Action
from runs.domain.lifecycle.rebuild import REBUILD_ACTIONS, rebuild_actions
from runs.domain.lifecycle.states import CLAIMING_STATES, RunState
from runs.domain.lifecycle.table import TRANSITIONS
from runs.domain.progression.config import ProgressionConfig
from runs.domain.progression.matching import Fix, match_position
from runs.domain.progression.resume import (
    last_passed,
    observed_updates,
    resumed_state,
    state_fields,
)
from runs.domain.progression.state import MatchState
from runs.domain.progression.status import Phase
from runs.domain.progression.stop_events import EventSource, StopCall
from runs.domain.telemetry import stop_time_updates as updates_contract
from runs.domain.tests.domain_values import NOW, STOPS, straight_trip_geometry

A = Action
# What each action leaves behind, as facts about the run's hot state (metadata is left
# out: nothing ever removes a vehicle's metadata, so a finished run still "has" it).
EFFECTS: dict[Action, dict[str, bool]] = {
    A.WRITE_PROJECTION: {"projection": True},
    A.CLAIM_RESOURCES: {"claims": True},
    A.WRITE_VEHICLE_METADATA: {},
    A.SYNC_STATE: {},
    A.ADD_TO_TRACKING: {"tracking": True},
    A.ADD_TO_IN_PROGRESS: {"in_progress": True},
    A.REMOVE_FROM_IN_PROGRESS: {"in_progress": False},
    A.REMOVE_FROM_SETS: {"tracking": False, "in_progress": False},
    A.EXPIRE_PROJECTION: {"projection": False},  # expiring: not live any more
    A.PUBLISH_CANCELLATION: {"projection": False, "canceled": True},
    A.RELEASE_RESOURCES: {"claims": False},
}
EMPTY = {"projection": False, "claims": False, "tracking": False, "in_progress": False}
EMPTY = {**EMPTY, "canceled": False}


def fold(actions, start=None) -> dict[str, bool]:
    shape = dict(start or EMPTY)
    for action in actions:
        shape.update(EFFECTS[action])
    return shape


def test_every_transition_leads_to_the_hot_state_the_rebuild_recreates():
    # Drift guard: if the table's actions change, the rebuild plan must change with them.
    for t in TRANSITIONS:
        after = fold(t.actions, fold(rebuild_actions(t.source)))
        rebuilt = fold(rebuild_actions(t.target, entered_with=t.actions))
        assert after == rebuilt, (t.source, t.event, t.target)


def test_claiming_states_reclaim_and_rewrite_metadata_finished_ones_are_left_alone():
    for state in CLAIMING_STATES:
        actions = rebuild_actions(state)
        assert {A.WRITE_PROJECTION, A.CLAIM_RESOURCES, A.WRITE_VEHICLE_METADATA} <= set(actions)
    for state in (RunState.COMPLETED, RunState.INTERRUPTED, RunState.SHORT_TURNED):
        assert rebuild_actions(state) == ()
    published = (A.REMOVE_FROM_SETS, A.RELEASE_RESOURCES, A.PUBLISH_CANCELLATION)
    assert rebuild_actions(RunState.CANCELLED, published) == (A.PUBLISH_CANCELLATION,)
    assert rebuild_actions(RunState.CANCELLED, (A.RELEASE_RESOURCES,)) == ()  # rejected
    assert set(REBUILD_ACTIONS) == CLAIMING_STATES


CONFIG = ProgressionConfig()
GEOMETRY = straight_trip_geometry()


def along(distance_m: float) -> tuple[float, float]:
    """Latitude/longitude ``distance_m`` along the straight trip."""
    (_, lat0, lon0), (_, _, lon1) = STOPS[0], STOPS[-1]
    total = GEOMETRY.stop_distances_m[-1] - GEOMETRY.stop_distances_m[0]
    share = (distance_m - GEOMETRY.stop_distances_m[0]) / total
    return lat0, lon0 + share * (lon1 - lon0)


def trace(start_m: float, end_m: float, step_m: float, t0: float) -> list[Fix]:
    """A bus driving east at 10 m/s, one fix every ``step_m``."""
    fixes, d, t = [], start_m, t0
    while d <= end_m:
        lat, lon = along(d)
        fixes.append(Fix(t, lat, lon, speed_mps=10.0, bearing_deg=90.0))
        d, t = d + step_m, t + step_m / 10.0
    return fixes


def drive(state: MatchState, fixes) -> tuple[MatchState, list[StopCall]]:
    events: list[StopCall] = []
    for fix in fixes:
        step = match_position(GEOMETRY, state, fix, CONFIG)
        state, events = step.state, events + list(step.events)
    return state, events


def test_a_resumed_matcher_neither_repeats_nor_loses_a_stop_event():
    start = MatchState(scheduled_start=NOW - 600)
    fixes = trace(-40.0, GEOMETRY.stop_distances_m[-1] + 5.0, 15.0, NOW - 300)
    _, uninterrupted = drive(start, fixes)
    assert [e.stop_sequence for e in uninterrupted] == [1, 2, 3, 4]

    # Redis loses the state after the bus left stop 2; then it drives on while no worker
    # matches it (no claim); the rebuild resumes from the durable events.
    cut = next(i for i, f in enumerate(fixes) if f.longitude > STOPS[1][2] + 0.0004)
    before, after = fixes[:cut], fixes[cut:]
    _, recorded = drive(start, before)
    assert [e.stop_sequence for e in recorded] == [1, 2]
    resumed = resumed_state(GEOMETRY, recorded)
    restored = MatchState.from_redis(state_fields(resumed), scheduled_start=start.scheduled_start)
    _, later = drive(restored, after[4:])  # four fixes nobody matched
    assert [e.stop_sequence for e in later] == [3, 4]
    assert all(e.arrived_at >= recorded[-1].departed_at for e in later)


def test_a_resumed_state_sits_at_the_last_stop_left_when_it_was_left():
    events = [
        StopCall(1, "S1", NOW - 100, NOW - 90, EventSource.OBSERVED),
        StopCall(2, "S2", NOW - 60, NOW - 50, EventSource.OBSERVED),
    ]
    state = resumed_state(GEOMETRY, events)
    assert state.phase is Phase.ON_ROUTE
    assert state.events_through == 1
    assert state.distance_m == state.max_distance_m == GEOMETRY.stop_distances_m[1]
    assert state.matched_at == NOW - 50  # older than any fix matched later: ingest wins
    assert "scheduled_start" not in state_fields(state)
    assert MatchState.from_redis(state_fields(state), scheduled_start=123.0) == replace(
        state, scheduled_start=123.0
    )
    assert resumed_state(GEOMETRY, []) is None
    unknown = [StopCall(9, "S9", NOW, NOW, EventSource.OBSERVED)]
    assert resumed_state(GEOMETRY, unknown) is None  # not a stop of this trip


def test_after_a_terminal_loop_the_latest_pass_counts():
    first_lap = [
        StopCall(seq, sid, NOW - 1000 + 100 * seq, NOW - 990 + 100 * seq, EventSource.OBSERVED)
        for seq, (sid, _, _) in enumerate(STOPS[:3], 1)
    ]
    again = StopCall(1, "S1", NOW - 100, NOW - 90, EventSource.OBSERVED)  # upserted row
    events = [again, *first_lap[1:]]
    index, event = last_passed(GEOMETRY, events)
    assert (index, event) == (0, again)
    updates = observed_updates(GEOMETRY, events)
    assert [u.stop_sequence for u in updates.updates] == [1]


def test_observed_times_pass_the_contract_even_when_two_stops_share_a_second():
    events = [
        StopCall(1, "S1", NOW - 100.4, NOW - 90.2, EventSource.OBSERVED),
        StopCall(2, "S2", NOW - 90.3, NOW - 90.3, EventSource.INTERPOLATED),  # same second
        StopCall(3, "S3", NOW - 40.0, NOW - 30.0, EventSource.INTERPOLATED),
    ]
    updates = observed_updates(GEOMETRY, events)
    assert all(u.observed and u.uncertainty_s is None for u in updates.updates)
    assert [u.stop_sequence for u in updates.updates] == [1, 3]
    assert updates.timestamp == round(NOW - 30.0)
    fields = updates_contract.validate_for_write(updates)
    assert updates_contract.from_redis(fields) == updates


@pytest.mark.parametrize("departed", [NOW - 5.0, None])
def test_the_terminal_event_resumes_past_every_stop(departed):
    events = [
        StopCall(seq, sid, NOW - 100 + 10 * seq, NOW - 95 + 10 * seq, EventSource.OBSERVED)
        for seq, (sid, _, _) in enumerate(STOPS[:3], 1)
    ] + [StopCall(4, "S4", NOW - 10.0, departed, EventSource.OBSERVED)]
    state = resumed_state(GEOMETRY, events)
    assert state.events_through == len(STOPS) - 1
    end = GEOMETRY.stop_distances_m[-1]
    _, more = drive(state, trace(end, end + 3.0, 1.0, NOW))
    assert more == []
