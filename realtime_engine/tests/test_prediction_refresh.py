"""A run's predictions are computed again only when they would change: the real observer.

Real Redis and PostgreSQL, the straight six-stop line of ``test_progression_observer``
(stops 400 m and 120 s apart), a bus reporting every 5 s. What a feed consumer sees:
the run's stop time updates stay as they were (not rewritten, the run not marked for
the feed build) while the bus drives on schedule between stops, and are computed again
once they are ``PREDICTION_REFRESH_MAX_AGE_S`` old, at a change of stop status, at once
when the deviation jumps, and on the first fix after the stored basis is lost.
"""

from __future__ import annotations

from databus import keys
from realtime_engine.progression import written_runs
from realtime_engine.tests import test_progression_observer as observer_tests
from realtime_engine.tests.test_progression_observer import START, observe, published_updates
from runs.domain.progression import state as state_contract
from runs.domain.telemetry.vehicle_stop_status import StopStatusCode

line_run = observer_tests.line_run  # the fixture: a run In Progress on the line
ON_TIME_MPS = 400.0 / 120.0  # the line's schedule: 400 m between stops, 120 s apart


def drive(redis_client, at_s: float, late_s: float = 0.0) -> tuple[int, dict, bool]:
    """A fix where the schedule has the bus ``late_s`` earlier; the stored updates'
    timestamp (s after 10:00), their hash, and whether the run was marked for the feeds."""
    redis_client.delete(keys.FEED_DIRTY_RUNS)
    observe(redis_client, ON_TIME_MPS * (at_s - late_s), at_s, ON_TIME_MPS)
    run_id = str(line_run_id(redis_client))
    stored = redis_client.hgetall(keys.run_stop_time_updates(run_id))
    marked = redis_client.sismember(keys.FEED_DIRTY_RUNS, run_id)
    return int(stored["timestamp"]) - int(START), stored, bool(marked)


def line_run_id(redis_client) -> str:
    return redis_client.get(keys.vehicle_current_run("LV1"))


def test_on_schedule_the_updates_stay_until_their_age_or_a_stop_change(redis_client, line_run):
    assert drive(redis_client, 140)[0] == 140  # the first fix: predicted
    first = drive(redis_client, 140)[1]
    for at in range(145, 170, 5):  # on its way, on time: nothing to publish anew
        timestamp, stored, marked = drive(redis_client, at)
        assert (timestamp, stored, marked) == (140, first, False)
    assert drive(redis_client, 170)[0::2] == (170, True)  # 30 s old: computed again
    for at in range(175, 200, 5):
        assert drive(redis_client, at)[0] == 170
    assert drive(redis_client, 200)[0] == 200
    for at in range(205, 225, 5):
        assert drive(redis_client, at)[0] == 200
    # 757 m: now INCOMING_AT the third stop, 27 s after the last computation.
    timestamp, _, marked = drive(redis_client, 227)
    assert observer_tests.stop_status(redis_client, line_run).current_status is (
        StopStatusCode.INCOMING_AT
    )
    assert (timestamp, marked) == (227, True)
    updates = published_updates(redis_client, line_run)
    observer_tests.assert_strictly_increasing(updates)
    # The basis is stored in the matcher state: any worker decides from what Redis holds.
    stored = redis_client.hgetall(keys.run_progression(str(line_run.pk)))
    basis = state_contract.PredictionBasis.from_text(stored[state_contract.PREDICTION])
    assert (basis.at, basis.stop_index, basis.status) == (
        START + 227,
        2,
        StopStatusCode.INCOMING_AT,
    )


def test_a_deviation_jump_is_predicted_at_once(redis_client, line_run):
    drive(redis_client, 140)
    assert drive(redis_client, 145)[0] == 140
    before = {u.stop_sequence: u.arrival for u in published_updates(redis_client, line_run).updates}
    # 20 s behind its schedule (it crawled since the last fix), 25 s after the computation.
    assert drive(redis_client, 165, late_s=20)[0::2] == (165, True)
    after = {u.stop_sequence: u.arrival for u in published_updates(redis_client, line_run).updates}
    assert after[7] - before[7] >= 15  # the next stops are predicted later


def test_a_state_without_its_basis_is_predicted_on_the_next_fix(redis_client, line_run):
    drive(redis_client, 140)
    assert drive(redis_client, 145)[0] == 140
    # As the hot-state rebuild resumes a state (and another worker reads it): no basis.
    redis_client.hdel(keys.run_progression(str(line_run.pk)), state_contract.PREDICTION)
    written_runs.clear()
    assert drive(redis_client, 150)[0::2] == (150, True)
