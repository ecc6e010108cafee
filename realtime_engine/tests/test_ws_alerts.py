"""Service alerts on ``/ws/live/``, against a real uvicorn process, Redis and PostgreSQL.

An alert a dispatcher creates through the REST API reaches connected clients of every
role as an ``alert`` message (``all`` and ``route:`` for dispatchers, ``alerts`` for
everyone), its end too, and a subscriber's snapshot lists the active alerts.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace

import pytest

from databus.notify import AlertChanged
from realtime_engine.tests.live_support import bearer, open_ws, receive_until, subscribe
from realtime_engine.ws.fanout import publish_alert
from runs.services.actors import OPERATOR_GROUP
from runs.tests.fixtures.people import make_user

pytest_plugins = ["runs.tests.fixtures.people", "realtime_engine.tests.live_fixtures"]
pytestmark = pytest.mark.django_db(transaction=True)


def knox_key(user) -> str:
    from knox.models import AuthToken

    return AuthToken.objects.create(user)[1]


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
