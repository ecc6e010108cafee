"""The checks of `make chaos` find what they claim to, on a tiny setup (real Redis and PostgreSQL).

A harness whose checks always pass proves nothing: each check is shown green on a
consistent state and red on the fault it exists to catch.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from benchmarks.chaos import checks
from benchmarks.chaos.load import AckLog
from databus import keys
from realtime_engine.models import PositionRecord
from runs.domain.lifecycle.states import RunState
from schedule_engine.feeds.tasks import feeds_publish

pytestmark = pytest.mark.django_db(transaction=True)
PREFIX = "CHAOS-"


def write_acks(path, lines: list[tuple[float, int, int]]) -> AckLog:
    path.write_text("".join(f"{at:.3f} {index} {ts}\n" for at, index, ts in lines))
    log = AckLog(path, PREFIX)
    log.refresh()
    return log


def store_fix(vehicle_id: str, ts: int) -> None:
    moment = dt.datetime.fromtimestamp(ts, dt.UTC)
    PositionRecord.objects.create(
        vehicle_id=vehicle_id, timestamp=moment, latitude=1.0, longitude=2.0, received_at=moment
    )


def test_stored_and_hot_state_checks_name_the_lost_and_the_overwritten_fix(tmp_path, redis_client):
    now = int(time.time())
    log = write_acks(
        tmp_path / "acks.log",
        [(now - 10, 0, now - 11), (now - 9, 0, now - 10), (now - 9, 1, now - 10), (now, 1, now)],
    )
    for vid, ts in (("CHAOS-0000", now - 11), ("CHAOS-0000", now - 10), ("CHAOS-0001", now - 10)):
        store_fix(vid, ts)
        redis_client.hset(keys.vehicle_position(vid), "timestamp", ts)

    # The last ack is younger than the lag: not expected anywhere yet.
    assert checks.stored_check(log, now - 20, acked_before=now - 2) == checks.Check(True, "3/3")
    assert checks.hot_state_check(redis_client, log, acked_before=now - 2).ok

    # Counting it: its history row is missing, and hot state is behind it.
    lost = checks.stored_check(log, now - 20, acked_before=now + 1)
    assert not lost.ok and f"CHAOS-0001@{now}" in lost.detail
    assert not checks.hot_state_check(redis_client, log, acked_before=now + 1).ok

    # An older fix overwriting a newer one in hot state is caught.
    redis_client.hset(keys.vehicle_position("CHAOS-0000"), "timestamp", now - 11)
    behind = checks.hot_state_check(redis_client, log, acked_before=now - 2)
    assert not behind.ok and f"CHAOS-0000 {now - 11} < {now - 10}" in behind.detail


def test_runs_and_feeds_checks_catch_a_lost_projection_and_a_stale_feed(run_in_state, redis_client):
    run = run_in_state(RunState.IN_PROGRESS)
    run_id = str(run.pk)
    consistent, runs = checks.runs_check(redis_client)
    assert consistent.ok, consistent.detail
    assert runs[run_id].state == "In Progress"

    # Redis flushed under the run: its state and set membership are gone.
    redis_client.delete(keys.run(run_id))
    lost, _ = checks.runs_check(redis_client)
    assert not lost.ok and "Redis None" in lost.detail

    # Built feeds are fresh; a run In Progress for longer than the grace must be in them.
    feeds_publish(redis_client)
    now = time.time()
    assert checks.feeds_check(redis_client, {}, now, interval_s=5, grace_s=10).ok
    missing = checks.feeds_check(redis_client, runs, now, interval_s=5, grace_s=-60)
    assert not missing.ok and f"run {run_id[:8]} not in TripUpdates" in missing.detail
    header = checks.feed_headers(redis_client)["trip_updates"]
    stale = checks.feeds_check(redis_client, {}, header + 11, interval_s=5, grace_s=10)
    assert not stale.ok and "trip_updates 11 s old" in stale.detail


def test_a_run_changing_while_compared_is_left_for_the_next_look():
    row = checks.RunRow("Tracking", "T1", 1.0)
    moved = checks.RunRow("In Progress", "T1", 2.0)
    assert checks.inconsistent_runs({"r": row}, {"r": moved}, {"r": "Tracking"}, set()) == {}
    assert checks.inconsistent_runs({"r": moved}, {"r": moved}, {"r": "In Progress"}, set()) == {
        "r": "In Progress, not in runs:in_progress"
    }


def test_matching_is_stalled_only_when_runs_are_in_progress_and_no_stop_was_reached_since():
    assert checks.matching_stalled(None, since=100.0, running=2)
    assert checks.matching_stalled(99.0, since=100.0, running=2)
    assert not checks.matching_stalled(101.0, since=100.0, running=2)
    assert not checks.matching_stalled(None, since=100.0, running=0)
