"""Contract of ``run:{rid}:stop_time_updates``: strict on write, tolerant on read."""

from __future__ import annotations

import json

import pytest

from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected
from runs.domain.telemetry.stop_time_updates import (
    StopTimeUpdate,
    StopTimeUpdates,
    from_redis,
    observed_from_redis,
    validate_for_write,
)

T = 1_771_257_600


def updates(*rows: StopTimeUpdate) -> StopTimeUpdates:
    return StopTimeUpdates(timestamp=T, updates=rows)


def test_a_written_value_reads_back_equal():
    value = updates(
        StopTimeUpdate(2, "A", T - 60, T - 50, None, True),
        StopTimeUpdate(4, "B", T + 60, T + 90, 36),
        StopTimeUpdate(9, "C", T + 200, None, 50),
    )
    fields = validate_for_write(value)
    assert set(fields) == {"timestamp", "updates"}
    assert from_redis(fields) == value


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ((StopTimeUpdate(4, "B", T, T), StopTimeUpdate(4, "B", T + 9, T + 9)), "INVALID_VALUE"),
        ((StopTimeUpdate(4, "B", T, T), StopTimeUpdate(2, "A", T + 9, T + 9)), "INVALID_VALUE"),
        (
            (StopTimeUpdate(2, "A", T, T + 30), StopTimeUpdate(4, "B", T + 30, T + 40)),
            "INVALID_VALUE",
        ),
        ((StopTimeUpdate(2, "A", T + 10, T),), "INVALID_VALUE"),
        ((StopTimeUpdate(2, "A", None, None),), "MISSING_FIELD"),
        ((StopTimeUpdate(2, "A", T, T, -1),), "INVALID_VALUE"),
        ((StopTimeUpdate(2, "A", T * 1000, None),), "TIMESTAMP_IN_MILLISECONDS"),
    ],
    ids=[
        "same sequence",
        "sequence backwards",
        "time not after the previous stop",
        "departs before arriving",
        "no time",
        "negative uncertainty",
        "milliseconds",
    ],
)
def test_updates_out_of_order_or_incomplete_are_refused(rows, reason):
    with pytest.raises(TelemetryRejected) as refused:
        validate_for_write(updates(*rows))
    assert refused.value.reason is RejectReason[reason]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"timestamp": "x", "updates": "[]"},
        {"timestamp": str(T)},
        {"timestamp": str(T), "updates": "{not json"},
        {"timestamp": str(T), "updates": '[["2"]]'},
    ],
)
def test_unreadable_hashes_read_as_nothing(fields):
    assert from_redis(fields) is None
    assert observed_from_redis(fields) == ()


def test_the_observed_rows_are_those_the_whole_read_keeps():
    rows = [
        [2, "A", T - 60, T - 50, None, True],
        [3, "X", T - 40 - 10**9, T - 30, None, True],  # out of bounds: dropped by both
        [4, "B", T - 20, T - 10, None, True],
        [6, "C", T + 60, T + 90, 36, False],
    ]
    fields = {"timestamp": str(T), "updates": json.dumps(rows)}
    whole = from_redis(fields)
    assert [u.stop_sequence for u in whole.updates] == [2, 4, 6]
    assert observed_from_redis(fields) == tuple(u for u in whole.updates if u.observed)
