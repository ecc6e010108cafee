"""Fixtures of the ``/ws/live/`` tests (named in their ``pytest_plugins``): real web
processes, and a dispatcher signed in with a knox token."""

from __future__ import annotations

import pytest
from knox.models import AuthToken

from realtime_engine.tests.live_support import forget_live_groups, start_asgi_server
from runs.services.actors import DISPATCHER_GROUP
from runs.tests.fixtures.people import make_user


@pytest.fixture
def asgi_server(process_env, tmp_path, redis_client):
    """``asgi_server(server_args=(), **env)`` starts a uvicorn; all are stopped after the test."""
    started = []

    def start(server_args: tuple[str, ...] = (), **settings: str):
        server = start_asgi_server(
            process_env, tmp_path / "asgi", server_args=server_args, **settings
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.handle.stop()
    forget_live_groups()


@pytest.fixture
def dispatcher_user(transactional_db):
    return make_user("dispatcher", DISPATCHER_GROUP)


@pytest.fixture
def token(dispatcher_user) -> str:
    """A dispatcher's knox token (what ``POST /api/login/`` returns)."""
    return AuthToken.objects.create(dispatcher_user)[1]
