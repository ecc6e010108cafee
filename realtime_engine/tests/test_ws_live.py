"""``/ws/live/`` against a real uvicorn process and the real Redis channel layer."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack

import pytest
from websockets.exceptions import ConnectionClosed

from databus import keys
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.tests.live_support import (
    StalledClient,
    bearer,
    forget_live_groups,
    open_ws,
    position_at,
    receive,
    receive_until,
    subscribe,
    write_position,
    write_run,
)
from realtime_engine.tests.mqtt_support import publish
from realtime_engine.ws.fanout import (
    publish_feed_status,
    publish_positions,
    publish_run_state,
    publish_stop_statuses,
    publisher,
)
from realtime_engine.ws.groups import parse_topic
from realtime_engine.ws.tickets import ticket_issue
from runs.domain.telemetry.vehicle_stop_status import StopStatusCode, VehicleStopStatus
from runs.models import Vehicle
from runs.services.actors import DISPATCHER_GROUP
from runs.tests.fixtures.people import make_user
from tests.support.processes import wait_for

pytest_plugins = ["realtime_engine.tests.live_fixtures"]


def flush_positions(*positions) -> None:
    publish_positions({p.vehicle_id: p for p in positions})
    publisher().drain()


def test_connections_without_valid_credentials_are_closed_with_4401(asgi_server, token):
    server = asgi_server()
    for query, kwargs in [("", {}), ("", bearer("not-a-token")), ("ticket=not-a-ticket", {})]:
        with open_ws(server, query, **kwargs) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 4401
    # A valid token in the Authorization header is accepted.
    with open_ws(server, **bearer(token)) as ws:
        ws.send(json.dumps({"type": "ping"}))
        assert receive(ws)["type"] == "pong"


def test_subscribe_gets_snapshot_then_live_position_run_state_and_feed_status(
    asgi_server, token, redis_client
):
    write_position(redis_client, position_at("bus-1", 38.90, -77.03))
    write_run(redis_client, "run-1", vehicle_id="bus-1", route_id="R10", trip_id="T1")
    redis_client.sadd("runs:in_progress", "run-1")
    server = asgi_server()
    with open_ws(server, **bearer(token)) as ws:
        snapshot = subscribe(ws, "all")
        [vehicle] = snapshot["vehicles"]
        assert vehicle["vehicle_id"] == "bus-1"
        assert (vehicle["latitude"], vehicle["run_id"], vehicle["route_id"]) == (
            38.90,
            "run-1",
            "R10",
        )
        [run] = snapshot["runs"]
        assert (run["run_id"], run["state"], run["route_id"]) == ("run-1", "In Progress", "R10")

        moved = position_at("bus-1", 38.91, -77.02, bearing=45)
        write_position(redis_client, moved)
        flush_positions(moved)
        message = receive_until(ws, "position")
        assert message["topic"] == "all"
        assert message["vehicles"] == [
            {
                "vehicle_id": "bus-1",
                "run_id": "run-1",
                "route_id": "R10",
                "latitude": 38.91,
                "longitude": -77.02,
                "bearing": 45.0,
                "speed": 5.0,
                "timestamp": moved.timestamp,
            }
        ]

        publish_run_state(
            "run-1",
            "Completed",
            previous_state="In Progress",
            event="run_completed",
            vehicle_id="bus-1",
            route_id="R10",
            wait=True,
        )
        state = receive_until(ws, "run_state")
        assert (state["run_id"], state["state"], state["previous_state"], state["topic"]) == (
            "run-1",
            "Completed",
            "In Progress",
            "all",
        )

        publish_feed_status("vehicle_positions", 1_790_000_000, entities=1, wait=True)
        feed = receive_until(ws, "feed_status")
        assert (feed["feed"], feed["header_timestamp"]) == ("vehicle_positions", 1_790_000_000)

        # A batch's stop statuses go to the watched groups only ("all" here).
        at_stop = VehicleStopStatus(StopStatusCode.STOPPED_AT, moved.timestamp, 4, "S4")
        publish_stop_statuses([("run-1", at_stop, "bus-1")])
        status = receive_until(ws, "stop_status")
        assert (status["topic"], status["run_id"], status["vehicle_id"]) == (
            "all",
            "run-1",
            "bus-1",
        )
        assert (status["status"]["current_stop_sequence"], status["status"]["stop_id"]) == (4, "S4")
        assert status["status"]["current_status"] == "STOPPED_AT"


def test_two_web_processes_each_deliver_every_message_to_their_own_clients(
    asgi_server, token, redis_client
):
    servers = [asgi_server(), asgi_server()]
    with ExitStack() as stack:
        sockets = [stack.enter_context(open_ws(s, **bearer(token))) for s in servers]
        for ws in sockets:
            subscribe(ws, "all")
        for latitude in (1.0, 2.0):
            flush_positions(position_at("bus-3", latitude, 1.0))
            for ws in sockets:
                message = receive_until(ws, "position")
                assert message["vehicles"][0]["latitude"] == latitude


def test_session_cookie_topics_and_unsubscribe_stops_messages(
    asgi_server, transactional_db, redis_client, client
):
    user = make_user("watcher", DISPATCHER_GROUP)
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    write_run(redis_client, "run-2", vehicle_id="bus-2", route_id="R20", trip_id="T2")
    server = asgi_server()
    with open_ws(server, additional_headers={"Cookie": cookie}) as ws:
        assert subscribe(ws, "vehicle:bus-1")["vehicles"] == []
        route_snapshot = subscribe(ws, "route:R20")
        assert [r["run_id"] for r in route_snapshot["runs"]] == ["run-2"]

        flush_positions(position_at("bus-1", 1.0, 1.0))
        assert receive_until(ws, "position")["topic"] == "vehicle:bus-1"
        flush_positions(position_at("bus-2", 2.0, 2.0))
        on_route = receive_until(ws, "position")
        assert on_route["topic"] == "route:R20"
        assert on_route["vehicles"][0]["run_id"] == "run-2"

        ws.send(json.dumps({"type": "unsubscribe", "topic": "vehicle:bus-1"}))
        assert receive_until(ws, "unsubscribed")["topic"] == "vehicle:bus-1"
        flush_positions(position_at("bus-1", 1.5, 1.5))
        flush_positions(position_at("bus-2", 2.5, 2.5))
        # Messages arrive in publish order: the next one is bus-2's, bus-1's never came.
        following = receive_until(ws, "position")
        assert (following["topic"], following["vehicles"][0]["latitude"]) == ("route:R20", 2.5)


def test_bad_requests_get_error_codes_and_heartbeats_keep_coming(asgi_server, token):
    server = asgi_server(LIVE_WS_HEARTBEAT_S="0.3")
    with open_ws(server, **bearer(token)) as ws:
        for frame, code in [
            ("{not json", "bad_json"),
            ('["subscribe"]', "bad_message"),
            ('{"type": "dance"}', "unknown_type"),
            ('{"type": "subscribe"}', "bad_topic"),
            ('{"type": "subscribe", "topic": "planet:mars"}', "bad_topic"),
            ('{"type": "subscribe", "topic": "route:"}', "bad_topic"),
            ('{"type": "unsubscribe", "topic": "all"}', "not_subscribed"),
        ]:
            ws.send(frame)
            error = receive_until(ws, "error")
            assert error["code"] == code, frame
            assert error["detail"]
        assert receive_until(ws, "ping")["at"] > 0
        ws.send(b"\x00binary")
        assert receive_until(ws, "error")["code"] == "bad_message"


def test_a_watched_group_stays_marked_while_subscribed_and_lapses_after(
    asgi_server, token, redis_client
):
    heartbeat_s = 0.3
    server = asgi_server(LIVE_WS_HEARTBEAT_S=str(heartbeat_s))
    group = parse_topic("route:R7").group

    def watched_since() -> float | None:
        return redis_client.zscore(keys.LIVE_ACTIVE_GROUPS, group)

    with open_ws(server, **bearer(token)) as ws:
        subscribe(ws, "route:R7")
        # Well past the 3-heartbeat expiry, the web process has marked it again.
        time.sleep(5 * heartbeat_s)
        assert watched_since() is not None
        assert time.time() - watched_since() < 2 * heartbeat_s
        ws.send(json.dumps({"type": "unsubscribe", "topic": "route:R7"}))
        receive_until(ws, "unsubscribed")
        marked_last = watched_since()
        time.sleep(3 * heartbeat_s)
        assert watched_since() == marked_last  # nobody refreshes it: it ages out


def test_a_subscriber_keeps_receiving_after_the_channel_layer_forgets_the_process(
    asgi_server, token
):
    # What channels-redis does to a member after its group expiry (a day), and a Redis
    # restart to every member: the web process's membership is gone.
    server = asgi_server(LIVE_WS_HEARTBEAT_S="0.3")
    with open_ws(server, **bearer(token)) as ws:
        subscribe(ws, "vehicle:bus-9")
        forget_live_groups()
        time.sleep(1.0)  # the hub renews its memberships every heartbeat interval
        flush_positions(position_at("bus-9", 9.5, 9.5))
        assert receive_until(ws, "position")["vehicles"][0]["latitude"] == 9.5


def test_a_client_that_does_not_read_is_closed_with_4408(
    asgi_server, dispatcher_user, redis_client
):
    server = asgi_server(LIVE_WS_QUEUE_MAX="8")
    # The sans-I/O client sends no headers of its own: a one-time ticket authenticates it.
    ticket = ticket_issue(redis_client, user_id=dispatcher_user.pk, ttl_s=30)
    stalled = StalledClient(server, f"ticket={ticket}")
    stalled.send_json({"type": "subscribe", "topic": "all"})
    fleet = [position_at(f"v{i}", 10 + i / 1000, 20.0) for i in range(1000)]
    # ~9 MB: more than a stalled socket (up to 4 MB of kernel send buffer on Linux)
    # and an 8-message queue hold together.
    for _ in range(60):
        publish_positions({p.vehicle_id: p for p in fleet})
        publisher().drain()
    assert stalled.read_until_closed() == 4408


@pytest.mark.slow
def test_an_mqtt_position_through_a_real_worker_reaches_the_subscriber(
    asgi_server,
    token,
    redis_client,
    process_env,
    celery_worker_factory,
    private_broker,
    topic_root,
):
    Vehicle.objects.create(id="bus-9")  # ingest takes telemetry from registered vehicles only
    worker = celery_worker_factory(
        {**process_env, "MQTT_URL": private_broker, "MQTT_CONSUMER_ENABLED": "true"}
    )
    wait_for(lambda: "MQTT ingest subscribed" in worker.log(), 60, "worker subscribed")
    write_run(redis_client, "run-9", vehicle_id="bus-9", route_id="R90", trip_id="T9")
    server = asgi_server()
    with open_ws(server, **bearer(token)) as ws:
        assert subscribe(ws, "run:run-9")["runs"][0]["route_id"] == "R90"
        publish(
            private_broker,
            [
                (
                    vehicle_topic(topic_root, "bus-9", TelemetryLeaf.POSITION),
                    {
                        "latitude": 38.95,
                        "longitude": -77.1,
                        "bearing": 180,
                        "timestamp": int(time.time()),
                    },
                )
            ],
        )
        message = receive_until(ws, "position", timeout=20)
    assert message["topic"] == "run:run-9"
    [vehicle] = message["vehicles"]
    assert (vehicle["vehicle_id"], vehicle["latitude"], vehicle["bearing"]) == ("bus-9", 38.95, 180)
    assert (vehicle["run_id"], vehicle["route_id"]) == ("run-9", "R90")
