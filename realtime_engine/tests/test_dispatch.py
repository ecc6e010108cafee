"""Detector dispatch per ingest batch, against real Redis and PostgreSQL.

Runs are brought to their state through the real lifecycle service; the batch is
what the consumer hands its observers. The enqueue step is a plain collector here;
the end-to-end test drives the real Celery path.
"""

from __future__ import annotations

import time

import pytest

from databus import keys
from realtime_engine.dispatch import dispatch_batch
from realtime_engine.ingest.batch import AcceptedBatch
from realtime_engine.ingest.service import BATCH_OBSERVERS
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.telemetry.position import Position
from runs.domain.tests.domain_values import STOPS
from runs.models import RunLifecycleTransition
from runs.tasks import run_event_detected
from runs.tests.fixtures.runs import write_progress_to_terminal

pytest_plugins = [
    "runs.tests.fixtures.feed",
    "runs.tests.fixtures.people",
    "runs.tests.fixtures.runs",
]


def batch_of(*positions: Position) -> AcceptedBatch:
    return AcceptedBatch(
        positions={p.vehicle_id: p for p in positions},
        occupancies={},
        received_at=time.time(),
        message_count=len(positions),
    )


def ping(vehicle_id="V1", *, stop=1, speed=0.0, age_s=0.0) -> Position:
    now = time.time() - age_s
    return Position(
        vehicle_id=vehicle_id,
        latitude=STOPS[stop][1],
        longitude=STOPS[stop][2],
        timestamp=int(now),
        received_at=now,
        speed=speed,
    )


def test_the_dispatcher_is_a_registered_batch_observer():
    assert dispatch_batch in BATCH_OBSERVERS


@pytest.mark.parametrize(
    "state, position, event",
    [
        (RunState.CONFIRMED, {}, RunEvent.RUN_TRACKING_STARTED),
        (RunState.TRACKING, {"speed": 4.0}, RunEvent.RUN_STARTED),
        (RunState.IN_PROGRESS, {"stop": 3}, RunEvent.RUN_COMPLETED),
        (RunState.NO_SIGNAL, {}, RunEvent.RUN_TRACKING_RESTORED),
    ],
    ids=str,
)
def test_a_batch_fires_the_state_s_detector_once(
    state, position, event, run_in_state, redis_client
):
    run = run_in_state(state)
    if event is RunEvent.RUN_COMPLETED:
        write_progress_to_terminal(redis_client, run)
    enqueued = []
    batch = batch_of(ping(**position), ping("NO-RUN"))
    requests = dispatch_batch(batch, redis_client, enqueue=enqueued.append)
    assert [(r.run_id, r.event) for r in requests] == [(str(run.pk), event)]
    assert enqueued == requests
    # While that event is pending, later batches do not enqueue it again.
    assert dispatch_batch(batch, redis_client, enqueue=enqueued.append) == []
    assert redis_client.get(keys.run_pending_event(str(run.pk))) == event.value


def test_nothing_fires_without_a_reason(run_in_state, redis_client):
    run_in_state(RunState.IN_PROGRESS)
    assert dispatch_batch(batch_of(ping(stop=1, speed=5.0)), redis_client, enqueue=print) == []
    # At the terminal's place, but the matcher has not followed the run there (a loop
    # trip's bus waiting at its first stop): not completed.
    assert dispatch_batch(batch_of(ping(stop=3)), redis_client, enqueue=print) == []
    assert dispatch_batch(batch_of(), redis_client, enqueue=print) == []


def test_the_task_applies_the_event_as_system_and_clears_the_pending_mark(
    run_in_state, redis_client
):
    run = run_in_state(RunState.CONFIRMED)
    requests = dispatch_batch(batch_of(ping()), redis_client, enqueue=lambda r: None)
    redis_client.hset(
        keys.vehicle_position("V1"),
        mapping={
            "latitude": str(STOPS[1][1]),
            "longitude": str(STOPS[1][2]),
            "timestamp": str(int(time.time())),
        },
    )
    result = run_event_detected.apply(args=(requests[0].run_id, requests[0].event.value, {})).get()
    assert result["accepted"] and result["state"] == "Tracking"
    last = RunLifecycleTransition.objects.filter(run=run).order_by("-id").first()
    assert (last.event, last.actor_role, last.actor) == ("run_tracking_started", "system", None)
    assert redis_client.get(keys.run_pending_event(str(run.pk))) is None
    assert redis_client.hget(keys.run(str(run.pk)), "run_lifecycle_state") == "Tracking"
