"""Fixtures shared by every app's tests: real Redis, real brokers, real worker processes.

Isolation between tests (and between developers running suites side by side):
the hot-state Redis database named by REDIS_URL is flushed before each test
that asks for it, and each test gets its own MQTT topic root.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.database import current_database_url
from tests.support.processes import start_celery_worker, start_mosquitto

SHARED = Path(__file__).resolve().parent.parent / "shared"

# Fixture modules shared across apps (imported by conftests, named in ``pytest_plugins``):
# rewritten like test modules, so their asserts explain themselves when they fail.
pytest.register_assert_rewrite("runs.tests.fixtures")


@pytest.fixture
def fixtures_dir() -> Path:
    """`../shared/fixtures`, the real data tests read (never copied into the repo)."""
    return SHARED / "fixtures"


@pytest.fixture
def redis_client():
    """The hot-state Redis client, on an emptied database."""
    from databus.redis import get_redis

    client = get_redis()
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def topic_root(settings) -> str:
    """A private MQTT topic root so concurrent tests never hear each other."""
    root = f"test-{uuid.uuid4().hex[:10]}"
    settings.MQTT_TOPIC_ROOT = root
    return root


@pytest.fixture
def private_broker(tmp_path):
    """A Mosquitto with the project's configuration on a free port; yields its MQTT URL."""
    handle, port = start_mosquitto(tmp_path / "mosquitto")
    yield f"mqtt://127.0.0.1:{port}"
    handle.stop()


@pytest.fixture
def process_env(transactional_db, topic_root) -> dict[str, str]:
    """Environment for a child process (worker, command) that shares this test's database."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=current_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CHANNEL_REDIS_URL=settings.CHANNEL_REDIS_URL,
        MQTT_URL=settings.MQTT_URL,
        MQTT_TOPIC_ROOT=topic_root,
        WORKER_METRICS_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def celery_worker_factory(tmp_path):
    """Start real `celery -A databus worker` processes; all are stopped after the test."""
    started = []

    def start(
        env: dict[str, str],
        *,
        name: str | None = None,
        args: tuple[str, ...] = (),
        beat: bool = False,
    ):
        handle = start_celery_worker(
            env,
            tmp_path / "workers",
            name=name or f"w{uuid.uuid4().hex[:8]}",
            args=args,
            beat=beat,
        )
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()
