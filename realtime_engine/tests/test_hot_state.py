"""The hot-state compare-and-set inside Redis: older never overwrites, newer replaces whole."""

from __future__ import annotations

import json

from databus import keys
from realtime_engine.ingest.batch import plan_batch
from realtime_engine.ingest.decode import receive_message
from realtime_engine.ingest.hot_state import HotStateWriter
from realtime_engine.ingest.vehicle_registry import AnyVehicle

ROOT = "transit"
T0 = 1_771_249_000


def plan(*items: tuple[str, str, dict]):
    return plan_batch(
        (
            receive_message(
                f"{ROOT}/vehicle/{vid}/{leaf}", json.dumps(body).encode(), T0 + 50.0, ROOT
            )
            for vid, leaf, body in items
        ),
        vehicles=AnyVehicle(),
    )


def test_older_values_never_overwrite_and_newer_ones_replace_the_hash(redis_client):
    writer = HotStateWriter(redis_client, dlq_maxlen=1000)
    redis_client.set(keys.vehicle_current_run("a"), "run-a")
    first = writer.write(
        plan(
            ("a", "position", {"latitude": 1, "longitude": 1, "bearing": 90, "timestamp": T0 + 10}),
            ("a", "occupancy", {"occupancy_percentage": 30, "timestamp": T0 + 10}),
        )
    )
    assert (first.applied_positions, first.applied_occupancies) == (["a"], ["a"])

    older = writer.write(
        plan(
            ("a", "position", {"latitude": 2, "longitude": 2, "timestamp": T0 + 5}),
            ("a", "occupancy", {"occupancy_percentage": 99, "timestamp": T0 + 5}),
            ("b", "position", {"latitude": 3, "longitude": 3, "timestamp": T0}),
        )
    )
    assert (older.applied_positions, older.applied_occupancies) == (["b"], [])
    assert redis_client.hget(keys.vehicle_position("a"), "latitude") == "1.0"
    assert redis_client.hget(keys.vehicle_occupancy("a"), "occupancy_percentage") == "30"
    assert redis_client.zscore(keys.RUNS_LAST_SEEN, "run-a") == T0 + 10

    writer.write(plan(("a", "position", {"latitude": 4, "longitude": 4, "timestamp": T0 + 20})))
    stored = redis_client.hgetall(keys.vehicle_position("a"))
    assert stored["latitude"] == "4.0" and "bearing" not in stored
    assert redis_client.zscore(keys.RUNS_LAST_SEEN, "run-a") == T0 + 20


def test_last_seen_never_moves_back_for_a_run_switching_vehicles(redis_client):
    writer = HotStateWriter(redis_client, dlq_maxlen=1000)
    redis_client.set(keys.vehicle_current_run("a"), "run-x")
    redis_client.set(keys.vehicle_current_run("b"), "run-x")
    writer.write(
        plan(
            ("a", "position", {"latitude": 1, "longitude": 1, "timestamp": T0 + 30}),
            ("b", "position", {"latitude": 1, "longitude": 1, "timestamp": T0 + 3}),
        )
    )
    assert redis_client.zscore(keys.RUNS_LAST_SEEN, "run-x") == T0 + 30


def test_the_dlq_stream_is_bounded(redis_client):
    writer = HotStateWriter(redis_client, dlq_maxlen=100)
    for _ in range(5):
        writer.write(
            plan_batch(
                (receive_message(f"{ROOT}/vehicle/v/position", b"x", T0, ROOT) for _ in range(100)),
                vehicles=AnyVehicle(),
            )
        )
    # MAXLEN ~ trims whole radix-tree nodes: bounded near the limit, never unbounded.
    assert redis_client.xlen(keys.TELEMETRY_DLQ) < 250


def _script_exists_calls(redis_client) -> int:
    stats = redis_client.info("commandstats")
    return stats.get("cmdstat_script|exists", {}).get("calls", 0)


def test_a_batch_is_one_round_trip_and_survives_redis_losing_its_scripts(redis_client):
    """No SCRIPT EXISTS before each batch (redis-py's default for a script on a pipeline);
    after SCRIPT FLUSH (as after a restart) the batch still applies, its DLQ entry once."""
    writer = HotStateWriter(redis_client, dlq_maxlen=1000)
    writer.write(plan(("a", "position", {"latitude": 1, "longitude": 1, "timestamp": T0 + 1})))
    checks = _script_exists_calls(redis_client)
    writer.write(plan(("a", "position", {"latitude": 2, "longitude": 2, "timestamp": T0 + 2})))
    assert _script_exists_calls(redis_client) == checks

    redis_client.script_flush()
    dlq_before = redis_client.xlen(keys.TELEMETRY_DLQ)
    result = writer.write(
        plan_batch(
            [
                receive_message(
                    f"{ROOT}/vehicle/a/position",
                    json.dumps({"latitude": 3, "longitude": 3, "timestamp": T0 + 3}).encode(),
                    T0 + 50.0,
                    ROOT,
                ),
                receive_message(f"{ROOT}/vehicle/b/position", b"not json", T0 + 50.0, ROOT),
            ],
            vehicles=AnyVehicle(),
        )
    )
    assert result.applied_positions == ["a"]
    assert result.claims == {}
    assert redis_client.hget(keys.vehicle_position("a"), "latitude") == "3.0"
    assert redis_client.xlen(keys.TELEMETRY_DLQ) == dlq_before + 1 == result.dlq_length


def test_the_write_reads_the_run_claiming_each_vehicle_that_sent_a_position(redis_client):
    """What the observers read first (which run each vehicle is on) comes with the write,
    also for a position older than the stored one: its fix still reaches the map-matcher."""
    writer = HotStateWriter(redis_client, dlq_maxlen=1000)
    redis_client.set(keys.vehicle_current_run("a"), "run-a")
    redis_client.set(keys.vehicle_current_run("c"), "run-c")
    writer.write(plan(("c", "position", {"latitude": 1, "longitude": 1, "timestamp": T0 + 9})))

    result = writer.write(
        plan(
            ("a", "position", {"latitude": 1, "longitude": 1, "timestamp": T0 + 10}),
            ("b", "position", {"latitude": 1, "longitude": 1, "timestamp": T0 + 10}),
            ("c", "position", {"latitude": 2, "longitude": 2, "timestamp": T0 + 5}),
            ("c", "occupancy", {"occupancy_percentage": 30, "timestamp": T0 + 10}),
        )
    )

    assert result.applied_positions == ["a", "b"]
    assert result.claims == {"a": "run-a", "c": "run-c"}
    redis_client.script_flush()  # the script loaded again returns the same
    again = writer.write(
        plan(("a", "position", {"latitude": 1, "longitude": 1, "timestamp": T0 + 11}))
    )
    assert again.claims == {"a": "run-a"}


def test_a_batch_adds_the_vehicles_with_a_position_to_the_located_set(redis_client):
    writer = HotStateWriter(redis_client, dlq_maxlen=1000)
    writer.write(plan(("c", "occupancy", {"occupancy_percentage": 30, "timestamp": T0})))
    assert redis_client.smembers(keys.VEHICLES_LOCATED) == set()  # no position yet

    writer.write(
        plan(
            ("a", "position", {"latitude": 1, "longitude": 1, "timestamp": T0 + 10}),
            ("b", "position", {"latitude": 2, "longitude": 2, "timestamp": T0 + 10}),
        )
    )
    writer.write(plan(("a", "position", {"latitude": 5, "longitude": 5, "timestamp": T0})))  # older
    assert redis_client.smembers(keys.VEHICLES_LOCATED) == {"a", "b"}
    assert all(
        redis_client.exists(keys.vehicle_position(vid))
        for vid in redis_client.smembers(keys.VEHICLES_LOCATED)
    )
