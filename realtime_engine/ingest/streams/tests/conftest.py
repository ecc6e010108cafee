"""Fixtures of the Streams consumer tests: consumers in threads against the real Redis and
PostgreSQL of the test settings."""

from __future__ import annotations

import pytest

from realtime_engine.ingest.streams.tests.support import StreamsRunner


@pytest.fixture
def streams(transactional_db, redis_client):
    """Start in-process Streams consumers with ``streams.start(...)``; stopped afterwards."""
    runner = StreamsRunner()
    yield runner
    runner.stop_all()
