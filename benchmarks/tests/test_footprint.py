"""bench-footprint's grouping: every key under the databus.keys template it was built from."""

from __future__ import annotations

from benchmarks.footprint import OTHER, Scope, key_templates, per_entity, redis_footprint
from databus import keys


def test_keys_are_grouped_by_their_template_and_scope(redis_client):
    for vehicle in ("v1", "v2"):
        redis_client.hset(keys.vehicle_position(vehicle), mapping={"latitude": "1"})
    redis_client.hset(keys.run("r1"), mapping={"run_lifecycle_state": "In Progress"})
    redis_client.hset(keys.run_trip("r1"), mapping={"trip_id": "t1"})
    redis_client.zadd(keys.run_progression_checkpoints("r1"), {"state": 1.0})
    redis_client.set(keys.trip_current_run("t1"), "r1")
    redis_client.sadd(keys.RUNS_TRACKING, "r1")
    redis_client.set("not-ours", "1")

    footprint = redis_footprint(redis_client)

    assert {name: usage.keys for name, usage in footprint.items()} == {
        "vehicle:{vehicle_id}:position": 2,
        "run:{run_id}": 1,
        "run:{run_id}:trip": 1,
        "run:{run_id}:progression:checkpoints": 1,
        "trip:{trip_id}:current_run": 1,
        keys.RUNS_TRACKING: 1,
        OTHER: 1,
    }
    assert all(usage.bytes > 0 for usage in footprint.values())
    entity = per_entity(footprint, vehicles=2, runs=1)
    vehicle_bytes = footprint["vehicle:{vehicle_id}:position"].bytes
    assert entity.per_vehicle == vehicle_bytes / 2
    run_bytes = sum(
        footprint[t].bytes
        for t in (
            "run:{run_id}",
            "run:{run_id}:trip",
            "run:{run_id}:progression:checkpoints",
            "trip:{trip_id}:current_run",
        )
    )
    assert entity.per_run == run_bytes
    assert entity.shared == footprint[keys.RUNS_TRACKING].bytes + footprint[OTHER].bytes


def test_every_key_builder_is_a_template():
    templates = {t.template: t.scope for t in key_templates()}
    assert templates["vehicle:{vehicle_id}:current_run"] is Scope.VEHICLE
    assert templates["operator:{operator_id}:current_run"] is Scope.RUN
    assert templates["feed:{name}"] is Scope.SHARED
    assert keys.HOT_STATE_EPOCH in templates
    assert not any(name.endswith("*:position") for name in templates)  # a SCAN pattern
