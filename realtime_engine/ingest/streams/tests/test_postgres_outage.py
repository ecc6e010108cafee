"""PostgreSQL down for 10 s under the Streams consumer (a private cluster it stops and starts):
hot state keeps following the stream, the entries stay pending (never acknowledged, never
re-delivered, never taken by a claim pass), and everything is stored once it returns."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from databus import keys
from realtime_engine.ingest import dlq
from realtime_engine.ingest.streams.tests.support import (
    GROUP,
    STREAM,
    StreamsRunner,
    add_entries,
    fix,
    pending,
    register_trackers,
    row_count,
)
from realtime_engine.tests.test_store_restarts import answered, django_on
from tests.support.processes import start_postgres, wait_for

pytestmark = [pytest.mark.slow]

OUTAGE_S = 10
TRACKERS = 5


def test_postgres_down_keeps_entries_pending_and_hot_state_written_then_stores_everything(
    transactional_db, redis_client, settings
):
    settings.INGEST_VEHICLE_REGISTRY_REFRESH_S = 0.5  # the outage's batches try to reload it
    cluster = start_postgres()
    runner = StreamsRunner()
    try:
        cluster.create_database("databus")
        with django_on(cluster, "databus"):
            call_command("migrate", verbosity=0)
            register_trackers(TRACKERS)
            base = int(time.time()) - 600
            entries = [fix(n, trackers=TRACKERS, base_s=base) for n in range(300)]
            # Claim passes every 2 s for entries idle over 1 s: the outage outlasts both.
            consumer = runner.start(claim_interval_s=2.0, claim_idle_ms=1000, batch_max=20)
            add_entries(redis_client, entries[:50])
            wait_for(lambda: row_count() == 50, 10, "the rows before the outage")

            cluster.stop()
            stopped_at = time.monotonic()
            add_entries(redis_client, entries[50:])
            newest = base + 299 // TRACKERS
            wait_for(
                lambda: all(
                    int(redis_client.hget(keys.vehicle_position(f"bus-{i}"), "timestamp") or 0)
                    == newest
                    for i in range(TRACKERS)
                ),
                10,
                "hot state following the stream while PostgreSQL is down",
            )
            wait_for(lambda: pending(redis_client) == 250, 5, "the outage's entries pending")
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))

            held = redis_client.xpending_range(STREAM, GROUP, "-", "+", 1000)
            assert len(held) == 250
            # Delivered once, still this consumer's: no claim pass took them, nothing
            # re-read them (each re-read would count towards STREAMS_MAX_DELIVERIES).
            assert {(row["consumer"], row["times_delivered"]) for row in held} == {
                (consumer.config.consumer_name, 1)
            }
            assert dlq.length(redis_client) == 0

            cluster.start()
            wait_for(lambda: answered(lambda: row_count() == 300), 40, "every row after the outage")
            wait_for(lambda: pending(redis_client) == 0, 10, "every entry acknowledged")
            runner.stop(consumer)
            assert dlq.length(redis_client) == 0
    finally:
        runner.stop_all()
        cluster.remove()
