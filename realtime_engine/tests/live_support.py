"""Helpers of the live-update tests: a real ASGI server process, hot-state writers, WS clients.

The server is ``uvicorn backend.asgi:application`` on a free port with the test's
environment (``process_env``), so it shares the test database and Redis databases.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from databus import keys
from realtime_engine.ws.groups import GROUP_PREFIX
from runs.domain.telemetry import position as position_contract
from runs.domain.telemetry.position import Position
from tests.support.processes import (
    ROOT,
    ManagedProcess,
    free_port,
    port_answers,
    uvicorn_command,
    wait_for,
)


@dataclass
class AsgiServer:
    handle: ManagedProcess
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/live/" + (f"?{query}" if query else "")


def start_asgi_server(
    env: dict[str, str], logdir, *, server_args: Sequence[str] = (), **settings: str
) -> AsgiServer:
    """uvicorn on a free port; ``server_args`` are more uvicorn options, ``settings`` env vars."""
    import subprocess

    port = free_port()
    logdir.mkdir(parents=True, exist_ok=True)
    log_path = logdir / f"uvicorn-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*uvicorn_command(port), *server_args],
            cwd=ROOT,
            env={**env, **settings},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    handle = ManagedProcess(process, log_path)
    try:
        wait_for(lambda: port_answers(port), 30, f"uvicorn on {port}")
    except TimeoutError:
        handle.stop()
        raise AssertionError(handle.log()) from None
    return AsgiServer(handle, port)


def forget_live_groups() -> None:
    """Drop the live groups' memberships from the channel layer (only ours, by prefix)."""
    layer = get_channel_layer()

    async def drop():
        connection = layer.connection(0)
        async for key in connection.scan_iter(match=f"{layer.prefix}:group:{GROUP_PREFIX}*"):
            await connection.delete(key)

    async_to_sync(drop)()


def write_position(client, position: Position) -> None:
    client.hset(
        keys.vehicle_position(position.vehicle_id),
        mapping=position_contract.validate_for_write(position),
    )


def write_run(
    client, run_id: str, *, vehicle_id: str, route_id: str, trip_id: str, state: str = "In Progress"
) -> None:
    client.hset(
        keys.run(run_id),
        mapping={
            "run_id": run_id,
            "vehicle_id": vehicle_id,
            "route_id": route_id,
            "trip_id": trip_id,
            "run_lifecycle_state": state,
        },
    )
    client.set(keys.vehicle_current_run(vehicle_id), run_id)


def position_at(
    vehicle_id: str,
    latitude: float,
    longitude: float,
    bearing: float = 90.0,
    timestamp: int | None = None,
) -> Position:
    now = time.time()
    return Position(
        vehicle_id=vehicle_id,
        latitude=latitude,
        longitude=longitude,
        timestamp=int(now) if timestamp is None else timestamp,
        received_at=now,
        bearing=bearing,
        speed=5.0,
    )


def receive(ws: ClientConnection, timeout: float = 10.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def receive_until(ws: ClientConnection, kind: str, timeout: float = 10.0, **match) -> dict:
    """The next message of type ``kind`` (and matching fields), skipping heartbeats and others."""
    deadline = time.monotonic() + timeout
    while True:
        message = receive(ws, max(0.01, deadline - time.monotonic()))
        if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
            return message


def close_code(ws: ClientConnection) -> int:
    """Read until the server closes; its close code (a drop without a close frame fails)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None, "dropped without a close frame"
    return closed.value.rcvd.code


def subscribe(ws: ClientConnection, topic: str) -> dict:
    """Subscribe and return the snapshot."""
    ws.send(json.dumps({"type": "subscribe", "topic": topic}))
    assert receive_until(ws, "subscribed")["topic"] == topic
    return receive_until(ws, "snapshot", topic=topic)


class StalledClient:
    """A WebSocket client that stops reading after it subscribes (websockets' sans-I/O protocol).

    The library clients keep reading into memory; this one leaves bytes in the kernel, so
    the server sees real backpressure.
    """

    def __init__(self, server: AsgiServer, query: str) -> None:
        self.protocol = ClientProtocol(parse_uri(server.ws_url(query)))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", server.port))
        self.sock.settimeout(30)
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.handshake_exc is None and not self.protocol.events_received():
            self._read()
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def _flush(self) -> None:
        self.sock.sendall(b"".join(self.protocol.data_to_send()))

    def _read(self) -> bool:
        data = self.sock.recv(65536)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        return bool(data)

    def send_json(self, message: dict) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()

    def read_until_closed(self) -> int | None:
        """Read everything the server sent; the close code it sent, if any."""
        while self.protocol.close_rcvd is None and self._read():
            self.protocol.events_received()
        self.sock.close()
        return None if self.protocol.close_rcvd is None else self.protocol.close_rcvd.code


def bearer(token: str) -> dict:
    """``open_ws`` keyword arguments sending a knox ``token`` the way API clients do."""
    return {"additional_headers": {"Authorization": f"Token {token}"}}


def open_ws(server: AsgiServer, query: str = "", **kwargs) -> ClientConnection:
    return connect(server.ws_url(query), open_timeout=10, **kwargs)
