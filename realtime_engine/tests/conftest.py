"""Fixtures of the realtime_engine tests: in-process consumers against a real broker."""

from __future__ import annotations

import pytest
from django.conf import settings

from realtime_engine.models import PositionRecord
from realtime_engine.tests.mqtt_support import ConsumerRunner


@pytest.fixture
def system_broker() -> str:
    """The machine's Mosquitto (Debian defaults); tests stay apart through ``topic_root``."""
    return settings.MQTT_URL


@pytest.fixture
def consumers(transactional_db, redis_client, topic_root):
    """Start in-process consumers with ``consumers.start(broker_url, ...)``."""
    runner = ConsumerRunner()
    yield runner
    runner.stop_all()


@pytest.fixture
def history_rows():
    def rows(vehicle_id: str | None = None) -> list[tuple[str, int]]:
        query = PositionRecord.objects.order_by("vehicle_id", "timestamp")
        if vehicle_id is not None:
            query = query.filter(vehicle_id=vehicle_id)
        return [(r.vehicle_id, int(r.timestamp.timestamp())) for r in query]

    return rows
