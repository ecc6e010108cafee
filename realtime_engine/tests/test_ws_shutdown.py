"""A web server shut down gracefully (SIGTERM, as a deploy does) says so to its WebSocket clients.

Each open ``/ws/live/`` connection, subscribed or not, gets close code 1001 (Going
Away): the client knows to reconnect to another replica, not that something broke.
uvicorn alone closes them with 1012; measured before the change: 1012 on every client.
"""

from __future__ import annotations

import signal

import pytest

from realtime_engine.tests.live_support import (
    bearer,
    close_code,
    open_ws,
    receive_until,
    subscribe,
)
from realtime_engine.ws.messages import CloseCode

pytest_plugins = ["realtime_engine.tests.live_fixtures"]
pytestmark = pytest.mark.django_db(transaction=True)


def test_sigterm_closes_every_websocket_with_1001_and_the_server_exits(asgi_server, token):
    server = asgi_server()
    clients = [open_ws(server, **bearer(token)) for _ in range(3)]
    subscribe(clients[0], "all")
    subscribe(clients[1], "vehicle:V1")
    clients[2].send('{"type": "ping"}')  # connected, subscribed to nothing
    receive_until(clients[2], "pong")

    server.handle.process.send_signal(signal.SIGTERM)

    assert [close_code(ws) for ws in clients] == [CloseCode.GOING_AWAY] * 3
    # uvicorn ends by re-raising the signal it handled: killed by SIGTERM, after its shutdown.
    assert server.handle.process.wait(timeout=15) == -signal.SIGTERM
    assert "Traceback" not in server.handle.log()
