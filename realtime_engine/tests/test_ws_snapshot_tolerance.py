"""A WebSocket snapshot with one corrupted hot-state record (HSET by hand, real Redis): that
record is left out and counted, every other vehicle and run is in the snapshot."""

from __future__ import annotations

import json

from knox.models import AuthToken

from databus import keys
from databus.metrics import REGISTRY
from realtime_engine.tests.live_support import (
    forget_live_groups,
    open_ws,
    position_at,
    start_asgi_server,
    subscribe,
    write_position,
    write_run,
)
from realtime_engine.ws.groups import parse_topic
from realtime_engine.ws.messages import encode
from realtime_engine.ws.snapshot import snapshot_read
from runs.domain.telemetry import stop_time_updates
from runs.services.actors import DISPATCHER_GROUP
from runs.tests.fixtures.people import make_user


def skipped(reason: str) -> float:
    labels = {"feed": "ws_snapshot", "reason": reason}
    return REGISTRY.get_sample_value("databus_feed_entities_skipped_total", labels) or 0.0


def test_a_snapshot_skips_the_corrupted_record_and_keeps_the_rest(redis_client):
    for vid, lat in (("bus-1", 38.90), ("bus-2", 38.91), ("bus-3", 38.92)):
        write_position(redis_client, position_at(vid, lat, -77.03))
    write_run(redis_client, "run-1", vehicle_id="bus-1", route_id="R10", trip_id="T1")
    write_run(redis_client, "run-2", vehicle_id="bus-2", route_id="R10", trip_id="T2")
    redis_client.sadd(keys.RUNS_IN_PROGRESS, "run-1", "run-2")
    at = position_at("bus-1", 0, 0).timestamp
    redis_client.hset(
        keys.run_stop_time_updates("run-1"),
        mapping=stop_time_updates.validate_for_write(
            stop_time_updates.StopTimeUpdates(
                at, (stop_time_updates.StopTimeUpdate(4, "S4", at + 60, at + 70, 20),)
            )
        ),
    )
    before = skipped("bad_position"), skipped("bad_stop_time_updates")
    redis_client.hset(keys.vehicle_position("bus-3"), "longitude", "1e999")
    redis_client.hset(keys.run_stop_time_updates("run-2"), "updates", "{not json")

    snapshot = snapshot_read(redis_client, parse_topic("all"))

    assert [v.vehicle_id for v in snapshot.vehicles] == ["bus-1", "bus-2"]
    assert {r.run_id: r.next_stop and r.next_stop.stop_id for r in snapshot.runs} == {
        "run-1": "S4",
        "run-2": None,
    }
    assert (skipped("bad_position"), skipped("bad_stop_time_updates")) == (
        before[0] + 1,
        before[1] + 1,
    )
    # What a client receives still encodes as JSON.
    assert json.loads(encode(snapshot))["type"] == "snapshot"


def test_a_subscriber_of_a_real_web_process_gets_the_snapshot_without_the_bad_record(
    process_env, tmp_path, redis_client, transactional_db
):
    token = AuthToken.objects.create(make_user("dispatcher", DISPATCHER_GROUP))[1]
    write_position(redis_client, position_at("bus-1", 38.90, -77.03))
    write_position(redis_client, position_at("bus-2", 38.91, -77.03))
    write_run(redis_client, "run-1", vehicle_id="bus-1", route_id="R10", trip_id="T1")
    redis_client.sadd(keys.RUNS_IN_PROGRESS, "run-1")
    redis_client.hset(keys.vehicle_position("bus-2"), "timestamp", b"\xff\xfe")
    redis_client.hset(keys.run_vehicle_stop_status("run-1"), "current_status", "FLYING")
    server = start_asgi_server(process_env, tmp_path / "asgi")
    try:
        with open_ws(server, additional_headers={"Authorization": f"Token {token}"}) as ws:
            snapshot = subscribe(ws, "all")
    finally:
        server.handle.stop()
        forget_live_groups()

    assert [v["vehicle_id"] for v in snapshot["vehicles"]] == ["bus-1"]
    [run] = snapshot["runs"]
    assert (run["run_id"], run["route_id"], run.get("stop_status")) == ("run-1", "R10", None)
