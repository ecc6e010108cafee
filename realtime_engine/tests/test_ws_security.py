"""``/ws/live/`` as an attacker meets it, against a real uvicorn process and real Redis/PostgreSQL.

Who may connect (a role, an accepted Origin, a header token or one-time ticket, never a
token in the URL), what a role may watch, what a hostile frame gets (an ``error``, never
a crash or an echo), and that a connection that fails mid-request leaves no group behind.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
import urllib.error
import urllib.request

import pytest
import redis
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from knox.models import AuthToken
from websockets.exceptions import InvalidStatus

from databus import keys
from realtime_engine.tests.live_support import (
    AsgiServer,
    bearer,
    close_code,
    open_ws,
    receive_until,
    subscribe,
)
from realtime_engine.ws import consumer
from realtime_engine.ws.groups import parse_topic
from realtime_engine.ws.hub import hub
from realtime_engine.ws.messages import CloseCode
from runs.domain.lifecycle.states import RunState
from runs.models import Run
from runs.tests.fixtures.people import make_user
from tests.support.processes import ROOT, start_redis

pytest_plugins = ["runs.tests.fixtures.people", "realtime_engine.tests.live_fixtures"]
pytestmark = pytest.mark.django_db(transaction=True)


def knox_key(user) -> str:
    return AuthToken.objects.create(user)[1]


def post_ticket(server: AsgiServer, **headers: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{server.http}/api/ws-ticket/", method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def in_progress_run(vehicle, operator, trip_id: str) -> Run:
    return Run.objects.create(
        vehicle=vehicle,
        operator=operator,
        route_id="R1",
        trip_id=trip_id,
        start_date=dt.date.today(),
        run_lifecycle_state=RunState.IN_PROGRESS.value,
    )


# --- frames ------------------------------------------------------------------------------


def test_deeply_nested_frames_get_an_error_and_the_connection_lives_on(asgi_server, token):
    # A frame cap above the nesting, so that it is the parser that meets 5,000 brackets.
    server = asgi_server(LIVE_WS_MAX_FRAME_BYTES="65536")
    deep = "[" * 5000
    with open_ws(server, **bearer(token)) as ws:
        for frame, code in [
            (deep, "bad_message"),
            (deep + "]" * 5000, "bad_message"),
            ('{"type": "subscribe", "topic": ' + deep + "}", "bad_topic"),
            ('{"type": "ping", "padding": ' + deep + "}", "bad_message"),
            ('{"type": "ping", "padding": ' + '{"a": ' * 5000 + "}", "bad_message"),
        ]:
            ws.send(frame)
            assert receive_until(ws, "error")["code"] == code, frame[:40]
        ws.send('{"type": "ping"}')
        assert receive_until(ws, "pong")["at"] > 0
    assert "RecursionError" not in server.handle.log()
    assert "Traceback" not in server.handle.log()


def test_oversized_frames_and_types_are_refused_and_not_echoed(asgi_server, token):
    server = asgi_server()
    with open_ws(server, **bearer(token)) as ws:
        ws.send(json.dumps({"type": "x" * 1_000_000}))
        raw = ws.recv(timeout=10)
        assert len(raw) < 300 and "xxxx" not in raw
        error = json.loads(raw)
        assert (error["type"], error["code"]) == ("error", "frame_too_large")
        assert "4096 bytes" in error["detail"]

        # Within the cap, an unknown type is named, clipped.
        ws.send(json.dumps({"type": "y" * 4000}))
        error = receive_until(ws, "error")
        assert error["code"] == "unknown_type"
        assert len(error["detail"]) < 100 and "y" * 70 not in error["detail"]

        ws.send(json.dumps({"type": "subscribe", "topic": "route:" + "z" * 4000}))
        error = receive_until(ws, "error")
        assert error["code"] == "bad_topic" and len(error["detail"]) <= 256

        ws.send('{"type": "ping"}')
        assert receive_until(ws, "pong")


def test_the_image_caps_websocket_messages_in_uvicorn_above_the_application_cap(asgi_server, token):
    # The transport bound stops a client from making the server buffer a huge message
    # before the application's own check sees it (uvicorn's default is 16 MiB).
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M)[1])
    max_size = int(cmd[cmd.index("--ws-max-size") + 1])
    assert max_size >= settings.LIVE_WS_MAX_FRAME_BYTES
    server = asgi_server(server_args=("--ws-max-size", str(max_size)))
    with open_ws(server, **bearer(token)) as ws:
        ws.send(json.dumps({"type": "a" * (max_size - 100)}))
        assert receive_until(ws, "error")["code"] == "frame_too_large"
        ws.send(json.dumps({"type": "a" * (max_size + 1)}))
        assert close_code(ws) == 1009  # RFC 6455: message too big


# --- roles and topics --------------------------------------------------------------------


def test_a_user_without_a_role_is_closed_with_4403(asgi_server, transactional_db):
    server = asgi_server()
    plain = make_user("plain", None)
    staff = make_user("staff", None)
    staff.is_staff = True
    staff.save()
    for user in (plain, staff):
        with open_ws(server, **bearer(knox_key(user))) as ws:
            assert close_code(ws) == CloseCode.FORBIDDEN


def test_dispatchers_and_superusers_watch_every_topic(asgi_server, token, vehicle, operator):
    server = asgi_server()
    run = in_progress_run(vehicle, operator, "T1")
    root = make_user("root", None)
    root.is_superuser = True
    root.save()
    for key in (token, knox_key(root)):
        with open_ws(server, **bearer(key)) as ws:
            for topic in ("all", "route:R1", f"run:{run.pk}", "vehicle:V1", "vehicle:nobody"):
                assert subscribe(ws, topic)["type"] == "snapshot"


def test_an_operator_watches_their_own_run_and_its_vehicle_only(
    asgi_server, vehicle, other_vehicle, operator, other_operator
):
    server = asgi_server()
    mine = in_progress_run(vehicle, operator, "T1")
    theirs = in_progress_run(other_vehicle, other_operator, "T2")
    key = knox_key(operator.user)
    with open_ws(server, **bearer(key)) as ws:
        assert subscribe(ws, f"run:{mine.pk}")["topic"] == f"run:{mine.pk}"
        assert subscribe(ws, "vehicle:V1")["topic"] == "vehicle:V1"
    for forbidden in (
        f"run:{theirs.pk}",
        "vehicle:V2",
        "vehicle:V9",  # no run claims it
        "run:not-a-uuid",
        "all",
        "route:R1",
    ):
        with open_ws(server, **bearer(key)) as ws:
            ws.send(json.dumps({"type": "subscribe", "topic": forbidden}))
            assert close_code(ws) == CloseCode.FORBIDDEN, forbidden


def test_an_operator_loses_the_vehicle_when_their_run_ends_and_keeps_the_run(
    asgi_server, vehicle, operator
):
    server = asgi_server(LIVE_WS_HEARTBEAT_S="0.3")
    run = in_progress_run(vehicle, operator, "T1")
    with open_ws(server, **bearer(knox_key(operator.user))) as ws:
        subscribe(ws, "vehicle:V1")
        subscribe(ws, f"run:{run.pk}")
        Run.objects.filter(pk=run.pk).update(run_lifecycle_state=RunState.COMPLETED.value)
        dropped = receive_until(ws, "unsubscribed", timeout=5)
        assert dropped == {"type": "unsubscribed", "topic": "vehicle:V1", "reason": "not_visible"}
        # Still watching their run: an unsubscribe of it is answered, not refused.
        ws.send(json.dumps({"type": "unsubscribe", "topic": f"run:{run.pk}"}))
        assert receive_until(ws, "unsubscribed") == {
            "type": "unsubscribed",
            "topic": f"run:{run.pk}",
        }


# --- origin ------------------------------------------------------------------------------


def test_a_foreign_origin_is_refused_at_the_handshake(asgi_server, dispatcher_user, client):
    server = asgi_server()
    client.force_login(dispatcher_user)
    cookie = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    for origin in ("http://evil.example", "null", f"http://127.0.0.1.evil.example:{server.port}"):
        with pytest.raises(InvalidStatus) as refused:
            open_ws(server, origin=origin, additional_headers=cookie)
        assert refused.value.response.status_code == 403, origin
    # The site's own pages (any allowed host) and clients that send no Origin are admitted.
    for origin in (f"http://127.0.0.1:{server.port}", f"http://localhost:{server.port}", None):
        with open_ws(server, origin=origin, additional_headers=cookie) as ws:
            assert subscribe(ws, "all")["type"] == "snapshot"


# --- credentials -------------------------------------------------------------------------


def test_a_token_in_the_url_no_longer_authenticates(asgi_server, token):
    server = asgi_server()
    with open_ws(server, f"token={token}") as ws:
        assert close_code(ws) == CloseCode.UNAUTHENTICATED


def test_an_expired_or_revoked_knox_token_is_refused(asgi_server, dispatcher_user):
    server = asgi_server()
    expired, expired_key = AuthToken.objects.create(dispatcher_user, expiry=dt.timedelta(hours=1))
    AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    revoked, revoked_key = AuthToken.objects.create(dispatcher_user)
    revoked.delete()
    for key in (expired_key, revoked_key):
        with open_ws(server, **bearer(key)) as ws:
            assert close_code(ws) == CloseCode.UNAUTHENTICATED


def test_bad_credentials_are_not_rescued_by_a_session_cookie(asgi_server, dispatcher_user, client):
    server = asgi_server()
    client.force_login(dispatcher_user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    headers = {"Cookie": cookie, "Authorization": "Token not-a-token"}
    with open_ws(server, additional_headers=headers) as ws:
        assert close_code(ws) == CloseCode.UNAUTHENTICATED


def test_a_ticket_opens_one_connection_once(asgi_server, token):
    server = asgi_server()
    status, body = post_ticket(server, Authorization=f"Token {token}")
    assert status == 201 and body["expires_in"] == settings.LIVE_WS_TICKET_TTL_S
    with open_ws(server, f"ticket={body['ticket']}") as ws:
        assert subscribe(ws, "all")["type"] == "snapshot"
    with open_ws(server, f"ticket={body['ticket']}") as ws:  # spent
        assert close_code(ws) == CloseCode.UNAUTHENTICATED


def test_an_expired_ticket_is_refused(asgi_server, token):
    server = asgi_server(LIVE_WS_TICKET_TTL_S="1")
    status, body = post_ticket(server, Authorization=f"Token {token}")
    assert (status, body["expires_in"]) == (201, 1)
    time.sleep(1.5)
    with open_ws(server, f"ticket={body['ticket']}") as ws:
        assert close_code(ws) == CloseCode.UNAUTHENTICATED


def test_tickets_are_for_signed_in_users_with_a_role(asgi_server, transactional_db, redis_client):
    server = asgi_server()
    assert post_ticket(server)[0] == 401
    assert post_ticket(server, Authorization="Token not-a-token")[0] == 401
    status, body = post_ticket(server, Authorization=f"Token {knox_key(make_user('plain', None))}")
    assert status == 403 and body["code"] == "permission_denied"
    # Redis holds no ticket for them, and nothing a client could present: only digests.
    assert redis_client.keys(keys.live_ws_ticket("*")) == []


def test_the_ticket_endpoint_is_in_the_api_schema(client, dispatcher_user):
    client.force_login(dispatcher_user)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    post = schema["paths"]["/api/ws-ticket/"]["post"]
    assert {"201", "401", "403"} <= set(post["responses"])
    assert "requestBody" not in post


# --- cleanup -----------------------------------------------------------------------------


def test_a_connection_that_fails_mid_subscribe_leaves_no_group_behind(asgi_server, token, tmp_path):
    """Hot-state Redis goes away between two subscribes: the second fails half done (the
    hub has joined its group, the snapshot read raises). The connection is closed with
    1011, and neither group is a channel-layer member or marked watched afterwards."""
    hot, port = start_redis(tmp_path / "hot")
    server = asgi_server(REDIS_URL=f"redis://127.0.0.1:{port}/0", LIVE_WS_HEARTBEAT_S="0.3")
    groups = [parse_topic(t).group for t in ("route:R1", "route:R2")]
    layer = get_channel_layer()
    channel_redis = redis.Redis.from_url(settings.CHANNEL_REDIS_URL)
    try:
        with open_ws(server, **bearer(token)) as ws:
            subscribe(ws, "route:R1")
            hot.stop()
            ws.send(json.dumps({"type": "subscribe", "topic": "route:R2"}))
            assert close_code(ws) == CloseCode.INTERNAL_ERROR
        hot, _ = start_redis(tmp_path / "hot-again", port=port)  # empty, as after a restart
        time.sleep(5 * 0.3)  # several renewals of whatever the hub still holds
        watched = redis.Redis(port=port, decode_responses=True).zrange(
            keys.LIVE_ACTIVE_GROUPS, 0, -1
        )
        assert not set(groups) & set(watched)
        for group in groups:
            assert channel_redis.zcard(f"{layer.prefix}:group:{group}") == 0, group
        # The process still serves: a new connection subscribes.
        with open_ws(server, **bearer(token)) as ws:
            assert subscribe(ws, "route:R3")["type"] == "snapshot"
    finally:
        hot.stop()
    assert "websocket.receive failed" in server.handle.log()


def test_a_connection_whose_heartbeat_fails_is_closed_and_leaves_its_groups(
    settings, monkeypatch, redis_client, vehicle, operator
):
    """In process, through the real ASGI application: the heartbeat's re-check of an
    operator's topics fails (the database is away, say); the connection closes with 1011
    and its groups are left, although no event of its own came in."""
    from backend.asgi import application

    settings.LIVE_WS_HEARTBEAT_S = 0.2
    in_progress_run(vehicle, operator, "T1")
    key = knox_key(operator.user)
    scope = {
        "type": "websocket",
        "path": "/ws/live/",
        "query_string": b"",
        "headers": [(b"authorization", f"Token {key}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
    }
    group = parse_topic("vehicle:V1").group

    async def operators_unreadable(topics):
        raise ConnectionError("database unreachable")

    async def scenario() -> dict:
        ws = ApplicationCommunicator(application, scope)
        await ws.send_input({"type": "websocket.connect"})
        assert (await ws.receive_output(5))["type"] == "websocket.accept"
        await ws.send_input(
            {"type": "websocket.receive", "text": '{"type": "subscribe", "topic": "vehicle:V1"}'}
        )
        while "snapshot" not in (await ws.receive_output(5)).get("text", ""):
            pass
        assert group in hub.members
        monkeypatch.setattr(consumer, "_operators_of", operators_unreadable)
        while (event := await ws.receive_output(5))["type"] != "websocket.close":
            pass
        # The release runs right after the close frame goes out, before any event of the
        # client's: wait for it (bounded), then copy what the hub holds.
        for _ in range(100):
            if group not in hub.members and not hub.connections:
                break
            await asyncio.sleep(0.02)
        members = {name: set(held) for name, held in hub.members.items()}
        connections = set(hub.connections)
        await ws.send_input({"type": "websocket.disconnect", "code": 1011})
        await ws.wait(5)
        for task in hub._tasks:  # the hub's receive and renew loops die with this event loop
            task.cancel()
        return {"close": event, "members": members, "connections": connections}

    result = async_to_sync(scenario)()
    assert result["close"]["code"] == CloseCode.INTERNAL_ERROR
    assert result["members"] == {} and result["connections"] == set()
