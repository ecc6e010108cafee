"""The one word each row's ``state`` says, decided from what was read (``backend.ops.status``)."""

from __future__ import annotations

import pytest

from backend.ops import status
from databus.task_records import BeatStatus, PeriodicTask, TaskRecord
from realtime_engine.ingest.streams.group import GroupState
from schedule_engine.feeds.store import FeedName, FeedSummary

NOW = 1_000_000.0
SCAN = PeriodicTask("scan-stale-runs", "runs.scan_stale_runs", 30.0, "RUN_SCAN_INTERVAL_S")


def record(**fields) -> TaskRecord:
    return TaskRecord(SCAN.entry, SCAN.task, SCAN.interval_s, SCAN.setting, **fields)


@pytest.mark.parametrize(
    ("task_record", "expected"),
    [
        (None, "unknown"),
        (record(), "never run"),
        (record(last_run_at=NOW - 1, last_success_at=NOW - 1, last_state="SUCCESS"), "ok"),
        # Three intervals without a success: beat stopped sending it, or it never succeeds.
        (record(last_run_at=NOW - 91, last_success_at=NOW - 91, last_state="SUCCESS"), "late"),
        (record(last_run_at=NOW - 1, last_success_at=NOW - 89, last_state="RETRY"), "ok"),
        (record(last_run_at=NOW - 1, last_success_at=NOW - 2, last_state="FAILURE"), "failing"),
        (record(last_run_at=NOW - 1, last_state="SUCCESS"), "late"),
    ],
)
def test_a_periodic_task_s_state(task_record, expected):
    assert status.task_row(SCAN, task_record, NOW)["state"] == expected


def test_a_beat_s_state():
    def beat(at, stale):
        return status.beat_fields(BeatStatus(at, "h:1", 5.0, "h:1", stale), NOW)["state"]

    assert (beat(None, False), beat(NOW - 1, False), beat(NOW - 11, True)) == (
        "never seen",
        "ok",
        "stale",
    )
    assert status.beat_fields(None, NOW)["state"] == "unknown"


def test_a_feed_s_state():
    def summary(age):
        return FeedSummary(FeedName.TRIP_UPDATES, int(NOW - age), '"e"', 3, NOW - age, 0.1)

    def states(summaries):
        return {row["name"]: row["state"] for row in status.feed_rows(summaries, NOW, 45.0)}

    assert states({FeedName.TRIP_UPDATES: summary(10)})[FeedName.TRIP_UPDATES] == "ok"
    assert states({FeedName.TRIP_UPDATES: summary(46)})[FeedName.TRIP_UPDATES] == "stale"
    assert states({})[FeedName.ALERTS] == "not built"
    assert set(states(None).values()) == {"unknown"}


def test_a_stream_s_state():
    def state(lag):
        return GroupState("s", "g", 1, 0, "0-0", lag)

    rows = status.stream_rows(
        [("a", None), ("b", state(5)), ("c", state(11)), ("d", state(None))], "g", 10
    )
    assert [row["state"] for row in rows] == ["no group", "ok", "lagging", "ok"]
    assert rows[0]["lag"] is None and rows[2]["lag"] == 11


def test_dead_letters_by_reason_most_frequent_first():
    fields = status.dead_letter_fields(5, ["b", "a", "b", "c"])
    assert fields["by_reason"] == [
        {"reason": "b", "count": 2},
        {"reason": "a", "count": 1},
        {"reason": "c", "count": 1},
    ]
    assert (fields["counted"], fields["complete"]) == (4, False)
