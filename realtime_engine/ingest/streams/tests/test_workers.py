"""Real `celery worker` processes with the Streams ingest bootstep.

Two workers in one consumer group split 10,000 gateway entries; one is killed with SIGKILL
in the middle of its batches, and the survivor's claim pass takes over what it left
pending: every entry is stored exactly once. One worker runs both ingresses, MQTT and
Streams, and a SIGTERM stops it cleanly with nothing left pending."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
import redis
from django.conf import settings
from django.db import connection

from realtime_engine.ingest import dlq
from realtime_engine.ingest.streams.tests import support as streams
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.models import PositionRecord
from realtime_engine.tests.mqtt_support import publish
from runs.tests.test_end_to_end import SUBSCRIBED
from tests.support.processes import wait_for

pytestmark = [pytest.mark.slow]

TOTAL = 10_000
TRACKERS = 100
CLAIM_INTERVAL_S = 2.0
CLAIM_IDLE_MS = 1000


def consumers_by_pid(redis_client, workers) -> dict[int, str]:
    """Each worker's consumer name in the group (host name and pid)."""
    try:
        names = [c["name"] for c in redis_client.xinfo_consumers(streams.STREAM, streams.GROUP)]
    except redis.ResponseError:  # no stream, no group yet
        return {}
    return {
        w.process.pid: name for w in workers for name in names if name.endswith(f"-{w.process.pid}")
    }


def pending_of(redis_client) -> dict[str, int]:
    summary = redis_client.xpending(streams.STREAM, streams.GROUP)
    return {c["name"]: int(c["pending"]) for c in summary["consumers"]}


def test_two_workers_split_the_stream_and_a_killed_ones_entries_are_claimed_and_stored_once(
    process_env, celery_worker_factory, redis_client
):
    streams.register_trackers(TRACKERS)
    env = {
        **process_env,
        "MQTT_CONSUMER_ENABLED": "false",
        "STREAMS_CONSUMER_ENABLED": "true",
        "STREAMS_BATCH_MAX": "100",
        "STREAMS_CLAIM_INTERVAL_S": str(CLAIM_INTERVAL_S),
        "STREAMS_CLAIM_IDLE_MS": str(CLAIM_IDLE_MS),
        "HOT_STATE_CHECK_INTERVAL_S": "0",
    }
    workers = [celery_worker_factory(env, name=name) for name in ("victim", "survivor")]
    try:
        wait_for(
            lambda: len(consumers_by_pid(redis_client, workers)) == 2,
            60,
            "both workers in the consumer group",
            0.2,
        )
        names = consumers_by_pid(redis_client, workers)
        victim, survivor = workers
        victim_name, survivor_name = names[victim.process.pid], names[survivor.process.pid]

        streams.add_entries(redis_client, (streams.fix(n, trackers=TRACKERS) for n in range(TOTAL)))
        seen_pending: Counter[str] = Counter()

        def victim_mid_batch() -> bool:
            held = pending_of(redis_client)
            for name, n in held.items():
                seen_pending[name] = max(seen_pending[name], n)
            return held.get(victim_name, 0) > 0 and streams.row_count() >= TOTAL // 5

        wait_for(victim_mid_batch, 30, "the victim holding entries mid-stream", 0.005)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        killed_at = time.monotonic()
        left = pending_of(redis_client).get(victim_name, 0)
        assert left > 0, "the victim left nothing pending: the kill proves nothing"
        assert seen_pending[survivor_name] > 0, "the survivor took no share of the stream"

        wait_for(
            lambda: pending_of(redis_client).get(victim_name, 0) == 0,
            CLAIM_INTERVAL_S + CLAIM_IDLE_MS / 1000 + 3,
            "the survivor's claim pass taking the victim's entries",
            0.05,
        )
        claimed_after = time.monotonic() - killed_at
        wait_for(lambda: streams.row_count() == TOTAL, 30, "every entry stored", 0.2)
        wait_for(lambda: streams.pending(redis_client) == 0, 10, "every entry acknowledged", 0.1)
        with connection.cursor() as cursor:
            cursor.execute(
                'SELECT count(*), count(DISTINCT (vehicle_id, "timestamp")) '
                "FROM realtime_engine_positionrecord"
            )
            assert cursor.fetchone() == (TOTAL, TOTAL)
        assert dlq.length(redis_client) == 0
        assert survivor.process.poll() is None
        print(
            f"victim killed holding {left} entries; claimed {claimed_after:.2f} s later "
            f"(claim interval {CLAIM_INTERVAL_S} s, idle {CLAIM_IDLE_MS} ms)"
        )
    except Exception:
        for worker in workers:
            print(worker.log()[-6000:])
        raise


def test_one_worker_runs_both_ingresses_and_stops_cleanly_on_sigterm(
    process_env, celery_worker_factory, redis_client, topic_root
):
    streams.register_trackers(2)
    env = {
        **process_env,
        "MQTT_CONSUMER_ENABLED": "true",
        "STREAMS_CONSUMER_ENABLED": "true",
        "HOT_STATE_CHECK_INTERVAL_S": "0",
    }
    worker = celery_worker_factory(env, name="both")
    try:
        wait_for(lambda: SUBSCRIBED in worker.log(), 60, "the MQTT ingest subscribed", 0.2)
        wait_for(lambda: consumers_by_pid(redis_client, [worker]), 30, "the Streams consumer", 0.2)
        publish(
            settings.MQTT_URL,
            [
                (
                    vehicle_topic(topic_root, "bus-1", TelemetryLeaf.POSITION),
                    {"latitude": 38.9, "longitude": -77.0, "timestamp": int(time.time()) - 5},
                )
            ],
        )
        # bus-0's entries only (even n of two trackers)
        streams.add_entries(redis_client, (streams.fix(n, trackers=2) for n in range(0, 20, 2)))
        wait_for(
            lambda: (
                PositionRecord.objects.filter(vehicle_id="bus-0").count() == 10
                and PositionRecord.objects.filter(vehicle_id="bus-1").count() == 1
            ),
            20,
            "the stream's ten rows and MQTT's one",
            0.1,
        )
        worker.stop(signal.SIGTERM)
        assert worker.process.returncode == 0
        assert streams.pending(redis_client) == 0
        log = worker.log()
        assert "MQTT ingest started" in log and "Streams ingest started" in log
        assert "thread died" not in log
    except Exception:
        print(worker.log()[-6000:])
        raise
