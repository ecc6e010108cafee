"""A worker starved of compare-and-sets hands its fixes to the next writer, never drops them."""

from __future__ import annotations

from databus import keys
from realtime_engine.progression.matcher_store import REPLAY_FROM, REVISION, fix_member
from realtime_engine.progression.matcher_write import hand_off
from runs.domain.progression.matching import Fix


def test_handed_off_fixes_are_logged_and_marked_for_replay_from_the_earliest(redis_client):
    state_key = keys.run_progression("77")
    redis_client.hset(state_key, mapping={REVISION: "5", "matched_at": "100.0"})
    late, later = Fix(90.0, 38.9, -77.0, 5.0, None), Fix(95.0, 38.91, -77.0, None, 180.0)

    hand_off(redis_client, {"77": [later, late]})

    log = redis_client.zrange(keys.run_progression_fixes("77"), 0, -1, withscores=True)
    assert log == [(fix_member(late), 90.0), (fix_member(later), 95.0)]
    stored = redis_client.hgetall(state_key)
    assert float(stored[REPLAY_FROM]) == 90.0  # the next fold starts before the earliest
    assert int(stored[REVISION]) > 5  # a write in flight elsewhere loses and reads them


def test_an_earlier_replay_mark_is_kept(redis_client):
    state_key = keys.run_progression("78")
    redis_client.hset(state_key, mapping={REVISION: "1", REPLAY_FROM: "50.0"})
    hand_off(redis_client, {"78": [Fix(90.0, 38.9, -77.0, None, None)]})
    assert float(redis_client.hget(state_key, REPLAY_FROM)) == 50.0
