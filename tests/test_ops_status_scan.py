"""The stale-run scan's record (``stale_run_scan:last``), which the status page shows: each
scan replaces it with when it ran, how many silent runs it judged and which transitions it
asked for; a scan that finds nothing says so too."""

from __future__ import annotations

import time

import pytest

from databus import keys
from realtime_engine import scan_record
from realtime_engine.scans import last_scan_get, scan_result, scan_stale_runs
from runs.domain.detection.detectors import DetectionSnapshot, RunEventRequest
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.tests.domain_values import STOPS
from runs.services.thresholds import thresholds_get
from runs.tests.fixtures.runs import write_position

pytest_plugins = [
    "runs.tests.fixtures.feed",
    "runs.tests.fixtures.people",
    "runs.tests.fixtures.runs",
]


@pytest.mark.django_db
def test_each_scan_replaces_the_record_with_what_it_did(run_in_state, redis_client):
    assert last_scan_get(redis_client) is None
    run = run_in_state(RunState.IN_PROGRESS)
    write_position(redis_client, run, lat=STOPS[1][1], lon=STOPS[1][2], speed=0.0, age_s=90)
    enqueued = []

    before = time.time()
    scan_stale_runs(redis_client, thresholds_get(), enqueue=enqueued.append)

    record = last_scan_get(redis_client)
    assert record.scanned_at >= before and record.duration_s >= 0
    assert (record.runs_looked_at, record.transitions_total) == (1, 1)
    assert record.transitions == (
        scan_record.ScanTransition(
            str(run.pk),
            RunEvent.RUN_TRACKING_LOST.value,
            RunState.IN_PROGRESS.value,
            RunState.NO_SIGNAL.value,
        ),
    )
    assert [request.run_id for request in enqueued] == [str(run.pk)]

    # The event is still pending: the next scan looks at the run and asks for nothing.
    scan_stale_runs(redis_client, thresholds_get(), enqueue=enqueued.append)
    again = last_scan_get(redis_client)
    assert again.scanned_at >= record.scanned_at
    assert (again.runs_looked_at, again.transitions_total, again.transitions) == (1, 0, ())
    assert len(enqueued) == 1


def test_a_big_scan_lists_the_first_transitions_and_counts_them_all():
    count = scan_record.MAX_LISTED + 5
    snapshots = [
        DetectionSnapshot(run_id=str(i), state=RunState.NO_SIGNAL, last_seen=0.0)
        for i in range(count)
    ]
    requests = [RunEventRequest(s.run_id, RunEvent.RUN_TRACKING_EXPIRED) for s in snapshots]

    record = scan_result(snapshots, requests, scanned_at=100.0, duration_s=0.5)

    assert record.transitions_total == count and record.runs_looked_at == count
    assert len(record.transitions) == scan_record.MAX_LISTED
    assert record.transitions[0].target == RunState.CANCELLED.value
    assert scan_record.decode(scan_record.encode(record)) == record


def test_an_unreadable_record_is_no_record(redis_client):
    redis_client.set(keys.STALE_RUN_SCAN_LAST, '{"an": "older format"}')
    assert last_scan_get(redis_client) is None
