"""Service alerts on ``/ws/live/``, against a real uvicorn process, Redis and PostgreSQL.

An alert a dispatcher creates through the REST API of the web process reaches connected
clients of every role as an ``alert`` message (``all`` and ``route:`` for dispatchers,
``alerts`` for everyone), its end too, and a subscriber's snapshot lists the alerts
active now (not the upcoming or ended ones). The network is the tiny feed of
``runs.tests.fixtures.feed`` (route R1, stops S1-S4), current, as the alerts' rules ask.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import replace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken

from alerts.services import alert_create
from alerts.values import AlertInput, InformedEntity, Translation
from databus.notify import AlertChanged
from realtime_engine.tests.live_support import (
    AsgiServer,
    bearer,
    open_ws,
    receive_until,
    subscribe,
)
from realtime_engine.ws import consumer
from realtime_engine.ws.fanout import publish_alert
from realtime_engine.ws.groups import parse_topic
from runs.services.actors import OPERATOR_GROUP, actor_for_user
from runs.tests.fixtures.people import make_user

pytest_plugins = [
    "runs.tests.fixtures.feed",
    "runs.tests.fixtures.people",
    "realtime_engine.tests.live_fixtures",
]
pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def knox_key(user) -> str:
    return AuthToken.objects.create(user)[1]


def api(server: AsgiServer, key: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """POST ``body`` (or GET) to the web process's API with a knox token."""
    request = urllib.request.Request(
        f"{server.http}{path}",
        method="GET" if body is None else "POST",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def create_alert(server: AsgiServer, key: str, **overrides) -> int:
    body = {
        "cause": "CONSTRUCTION",
        "effect": "DETOUR",
        "severity": "WARNING",
        "header": [{"text": "Route 1 detours around Stop S2"}],
        "active_periods": [{"start": (NOW - dt.timedelta(hours=1)).isoformat()}],
        "informed_entities": [{"route_id": "R1"}, {"stop_id": "S2"}],
        **overrides,
    }
    status, created = api(server, key, "/api/alerts/", body)
    assert status == 201, created
    return created["id"]


def end_alert(server: AsgiServer, key: str, alert_id: int) -> None:
    status, ended = api(server, key, f"/api/alerts/{alert_id}/end/", {})
    assert status == 200, ended


def detour_view(alert_id: int, *, active: bool = True) -> dict:
    return {
        "alert_id": alert_id,
        "active": active,
        "cause": "CONSTRUCTION",
        "effect": "DETOUR",
        "severity": "WARNING",
        "header": "Route 1 detours around Stop S2",
        "route_ids": ["R1"],
        "stop_ids": ["S2"],
    }


def test_a_dispatchers_alert_reaches_clients_of_every_role_and_so_does_its_end(
    asgi_server, gtfs_feed, token, operator
):
    server = asgi_server()
    with ExitStack() as stack:
        dispatcher_all = stack.enter_context(open_ws(server, **bearer(token)))
        dispatcher_route = stack.enter_context(open_ws(server, **bearer(token)))
        driver = stack.enter_context(open_ws(server, **bearer(knox_key(operator.user))))
        assert subscribe(dispatcher_all, "all")["alerts"] == []
        assert subscribe(dispatcher_route, "route:R1")["alerts"] == []
        assert subscribe(driver, "alerts")["alerts"] == []
        clients = {"all": dispatcher_all, "route:R1": dispatcher_route, "alerts": driver}

        alert_id = create_alert(server, token)
        for topic, ws in clients.items():
            message = receive_until(ws, "alert")
            assert (message["topic"], message["action"]) == (topic, "created")
            assert message["alert"] == detour_view(alert_id)

        end_alert(server, token, alert_id)
        for ws in clients.values():
            message = receive_until(ws, "alert")
            assert message["action"] == "ended"
            assert message["alert"] == detour_view(alert_id, active=False)


def test_a_subscribers_snapshot_lists_the_alerts_active_now(
    asgi_server, gtfs_feed, token, operator
):
    server = asgi_server()
    detour = create_alert(server, token)
    at_a_stop = create_alert(
        server,
        token,
        effect="STOP_MOVED",
        severity="INFO",
        header=[{"text": "Stop S3 moved 20 m north"}],
        informed_entities=[{"stop_id": "S3"}],
    )
    create_alert(  # told ahead of time, not active yet
        server, token, active_periods=[{"start": (NOW + dt.timedelta(hours=2)).isoformat()}]
    )
    end_alert(server, token, create_alert(server, token))

    with open_ws(server, **bearer(token)) as ws:
        everything = subscribe(ws, "all")["alerts"]
        assert sorted(alert["alert_id"] for alert in everything) == [detour, at_a_stop]
        assert {alert["alert_id"]: alert for alert in everything}[detour] == detour_view(detour)
        assert [a["alert_id"] for a in subscribe(ws, "route:R1")["alerts"]] == [detour]
        assert "alerts" not in subscribe(ws, "vehicle:V1")
    with open_ws(server, **bearer(knox_key(operator.user))) as ws:
        told = subscribe(ws, "alerts")
        assert sorted(alert["alert_id"] for alert in told["alerts"]) == [detour, at_a_stop]
        assert (told["vehicles"], told["runs"]) == ([], [])


def test_an_alert_message_goes_to_all_alerts_and_the_routes_it_names_only(
    asgi_server, token, redis_client
):
    server = asgi_server()
    operator_key = knox_key(make_user("driver-alerts", OPERATOR_GROUP))
    change = AlertChanged(
        alert_id=41,
        action="created",
        active=True,
        cause="CONSTRUCTION",
        effect="DETOUR",
        severity="WARNING",
        header="Main Street closed at Second",
        route_ids=("R1",),
        stop_ids=("S2",),
    )
    with ExitStack() as stack:
        watching = {
            topic: stack.enter_context(open_ws(server, **bearer(key)))
            for topic, key in (
                ("all", token),
                ("route:R1", token),
                ("route:R2", token),
                ("alerts", operator_key),
            )
        }
        for topic, ws in watching.items():
            subscribe(ws, topic)
        publish_alert(change, wait=True)
        for topic in ("all", "route:R1", "alerts"):
            message = receive_until(watching[topic], "alert")
            assert message["topic"] == topic
            assert message["action"] == "created"
            assert message["alert"] == {
                "alert_id": 41,
                "active": True,
                "cause": "CONSTRUCTION",
                "effect": "DETOUR",
                "severity": "WARNING",
                "header": "Main Street closed at Second",
                "route_ids": ["R1"],
                "stop_ids": ["S2"],
            }
        # route:R2 was not named: the first alert it gets is the next one, which names it.
        publish_alert(replace(change, alert_id=42, route_ids=("R2",)), wait=True)
        assert receive_until(watching["route:R2"], "alert")["alert"]["alert_id"] == 42


def test_a_snapshots_alerts_cost_the_same_queries_however_many_there_are(
    gtfs_feed, dispatcher, redis_client
):
    actor = actor_for_user(dispatcher)

    def add_alerts(count: int) -> None:
        for n in range(count):
            alert_create(
                actor=actor,
                data=AlertInput(
                    header=(Translation("", f"alert {n}"),),
                    informed_entities=(InformedEntity(route_id="R1"), InformedEntity(stop_id="S2")),
                ),
            )

    def snapshot_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            text = consumer._read_snapshot(parse_topic("all"))
        return len(json.loads(text)["alerts"]), len(queries)

    add_alerts(1)
    one, queries_for_one = snapshot_queries()
    add_alerts(9)
    ten, queries_for_ten = snapshot_queries()
    assert (one, ten) == (1, 10)
    assert queries_for_ten == queries_for_one
    # Run and vehicle topics list no alerts: they read none.
    with CaptureQueriesContext(connection) as queries:
        consumer._read_snapshot(parse_topic("vehicle:V1"))
    assert len(queries) == 0
