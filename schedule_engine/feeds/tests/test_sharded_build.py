"""A full build split across processes publishes what one process publishes.

The hot state is a network with blocks (``operations_network``): runs on trips whose
block has a next trip, on a headway-based trip, on a trip the schedule lacks, a run whose
predictions are unreadable, one whose predictions are old, a cancelled run, a vehicle
whose clock is ahead, a vehicle without a run, vehicles claiming another's run (with the
vehicle the run names still claiming it, or not), and the
dispatchers' operations (a cancellation, skipped stops, an added trip). It is built whole
in one process and then in two and three, from the same hot state: the payloads' bytes,
the entity caches, the marks left for the next build, the counts of what was left out
and this process's copy of the caches must be the same. Real Redis and PostgreSQL; real forks.
"""

from __future__ import annotations

import datetime as dt
import logging

from databus import keys
from runs.domain.projections.trip_operations import (
    AddedStopTime,
    TripOperationKind,
    TripOperationRecord,
)
from runs.domain.telemetry import stop_time_updates, trip
from schedule_engine.feeds import mirror, tasks
from schedule_engine.feeds.entity_cache import META_FULL_AT
from schedule_engine.feeds.store import HOT_STATE_FEEDS, feed_get
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.fleet_hot_state import write_run, write_vehicle
from schedule_engine.feeds.tests.operations_network import (
    origin,
    scheduled_updates,
    write_network_run,
    write_operation,
    yyyymmdd,
)

DAY = dt.date(2026, 12, 1)
NOW = origin(DAY) + 8 * 3600 + 400  # 08:06:40 in New York: T1 under way
RUNS = 24


def write_hot_state(client) -> None:
    trips = ("T1", "T3", "HEADWAY", "NOT-IN-GTFS")
    for i in range(RUNS):
        trip_id = trips[i % len(trips)]
        known = trip_id in ("T1", "T3")
        updates = (
            scheduled_updates(trip_id, DAY, late_s=300 * (i % 5), from_sequence=2)
            if known
            else ((2, "S2", NOW + 120), (3, "S3", NOW + 300), (4, "S4", NOW + 600))
        )
        # Old predictions now and then (left out, and reported), a clock ahead once.
        at = NOW - 200 if i % 11 == 5 else NOW + 20 if i == 8 else NOW - 3
        write_network_run(client, f"r{i}", f"bus-{i}", trip_id, DAY, at=at, updates=updates)
    client.delete(keys.trip_current_run("T2"))  # nobody runs T2: T1's runs lead it
    client.hset(keys.run_stop_time_updates("r9"), stop_time_updates.UPDATES, "[oops")
    client.hset(keys.vehicle_position("bus-13"), "latitude", "north")
    cancelled = trip.TripDescriptor("T3", "R1", 0, "09:00:00", yyyymmdd(DAY))
    write_run(client, "c1", "bus-c", cancelled, state="Cancelled", last_event_at=NOW - 60)
    client.zadd(keys.RUNS_CANCELED, {"c1": NOW + 3600})
    write_vehicle(client, "parked", at=NOW - 10, label="Depot")
    for k in range(6):
        # A vehicle swap half done: a second vehicle claims a run whose projection still
        # names the first, which another shard may hold.
        write_vehicle(client, f"swap-{k}", at=NOW - 5, label=f"Spare {k}")
        client.set(keys.vehicle_current_run(f"swap-{k}"), f"r{k}")
    for k in range(6, 14):
        # Swapped the other way: the spare alone claims the run, whose projection names
        # the first vehicle, still located and described (the shards go by the claimant).
        write_vehicle(client, f"spare-{k}", at=NOW - 5, label=f"Spare {k}")
        client.set(keys.vehicle_current_run(f"spare-{k}"), f"r{k}")
        client.delete(keys.vehicle_current_run(f"bus-{k}"))
    common = dict(start_date=yyyymmdd(DAY), active_from=NOW - 600, active_until=NOW + 7200)
    for record in (
        TripOperationRecord("op-1", TripOperationKind.CANCEL, "LATE", route_id="R1", **common),
        TripOperationRecord(
            "op-2", TripOperationKind.SKIP_STOPS, "T1", skipped_stop_sequences=(3,), **common
        ),
        TripOperationRecord(
            "op-3",
            TripOperationKind.ADD,
            "EXTRA-1",
            route_id="R1",
            direction_id=0,
            start_time="08:30:00",
            vehicle_id="bus-2",
            stop_times=(
                AddedStopTime(1, "S1", NOW + 60, NOW + 60),
                AddedStopTime(2, "S4", NOW + 600, NOW + 610),
            ),
            **common,
        ),
    ):
        write_operation(client, record)


def built_whole(client, settings, processes: int) -> dict[str, object]:
    """Everything a full build leaves behind, built from the hot state as it is."""
    settings.FEED_BUILD_PROCESSES = processes
    client.delete(
        keys.FEED_CACHE_META,
        keys.FEED_SKIPPED_COUNTS,
        keys.FEED_DIRTY_VEHICLES,
        keys.FEED_DIRTY_RUNS,
        *(keys.feed(name) for name in HOT_STATE_FEEDS),
        *(keys.feed_entities(name) for name in HOT_STATE_FEEDS),
    )
    mirror.mirror_forget()
    feeds_publish(client, now=NOW)
    copy = mirror.mirror_get(client.hget(keys.FEED_CACHE_META, "generation"))
    assert client.hget(keys.FEED_CACHE_META, META_FULL_AT) is not None
    return {
        "payloads": {name: feed_get(client, name).payload for name in HOT_STATE_FEEDS},
        "caches": {name: client.hgetall(keys.feed_entities(name)) for name in HOT_STATE_FEEDS},
        "marked again": (
            client.smembers(keys.FEED_DIRTY_VEHICLES),
            client.smembers(keys.FEED_DIRTY_RUNS),
        ),
        "skipped": client.hgetall(keys.FEED_SKIPPED_COUNTS),
        "mirror": (copy.entities, copy.vehicles),
        # The shards' staged entities became the caches (without their expiry), or went.
        "staged left": sorted(client.scan_iter(match=keys.feed_entities_staged("*", "*"))),
        "caches expire": [client.ttl(keys.feed_entities(name)) for name in HOT_STATE_FEEDS],
    }


def test_a_full_build_in_two_or_three_processes_publishes_what_one_does(
    network, redis_client, settings, monkeypatch
):
    monkeypatch.setattr(tasks, "SHARDED_MIN_ENTITIES", 0)
    write_hot_state(redis_client)

    one = built_whole(redis_client, settings, 1)
    trip_updates = one["caches"][tasks.FeedName.TRIP_UPDATES]
    # The hot state exercises what the shards must agree on.
    assert "r0:next" in trip_updates  # a block's next trip
    assert "r9" not in trip_updates and "r5" not in trip_updates  # unreadable, old
    assert "c1" in trip_updates and "op-3" not in trip_updates  # cancelled; operations uncached
    assert {"unknown_trip", "bad_stop_time_updates"} <= {
        field.split("|")[1] for field in one["skipped"]
    }
    assert "r8" in one["marked again"][1]  # its clock is ahead: capped, decided again

    assert one["staged left"] == [] and one["caches expire"] == [-1, -1]
    for processes in (2, 3):
        assert built_whole(redis_client, settings, processes) == one, processes


def test_a_shard_that_fails_leaves_the_build_to_one_process(
    network, redis_client, settings, monkeypatch, caplog
):
    monkeypatch.setattr(tasks, "SHARDED_MIN_ENTITIES", 0)
    write_hot_state(redis_client)
    one = built_whole(redis_client, settings, 1)
    decided = tasks.shard_decided

    def failing_in_a_child(context, shard, hot):
        if shard.index == 1:
            raise MemoryError("no room for shard 1")
        return decided(context, shard, hot)

    monkeypatch.setattr(tasks, "shard_decided", failing_in_a_child)
    with caplog.at_level(logging.ERROR, logger="schedule_engine.feeds.tasks"):
        assert built_whole(redis_client, settings, 2) == one

    assert "MemoryError: no room for shard 1" in caplog.text


def test_a_small_build_is_decided_in_one_process(network, redis_client, settings, monkeypatch):
    write_hot_state(redis_client)  # a few dozen entities: below SHARDED_MIN_ENTITIES

    def forked(*args, **kwargs):
        raise AssertionError("a small build forked")

    monkeypatch.setattr(tasks, "forked_map", forked)
    built_whole(redis_client, settings, 2)
