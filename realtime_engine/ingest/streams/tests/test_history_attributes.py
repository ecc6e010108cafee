"""The position history keeps a record's IO bag exactly (real PostgreSQL): a bigint as a
JSON number, a buffer as base64, one row per fix however often it is written."""

from __future__ import annotations

import base64
import time

import pytest
from django.db import connection

from realtime_engine.ingest.history import DatabaseTarget, HistoryWriter, attributes_json
from realtime_engine.ingest.streams.record import encode_record, receive_record
from realtime_engine.models import PositionRecord
from runs.domain.telemetry.position import Position

IMEI = "356307042441013"


class OneTracker:
    def vehicle_of_device(self, device_id: str) -> str | None:
        return "bus-7" if device_id == IMEI else None


@pytest.fixture
def writer(transactional_db):
    history = HistoryWriter(DatabaseTarget.from_django())
    yield history
    history.close()


def streams_position(now: float) -> Position:
    fields = encode_record(
        IMEI,
        timestamp_ms=int(now * 1000) - 5_000,
        latitude=38.9,
        longitude=-77.03,
        speed_kmh=36,
        attributes={
            "240": 18446744073709551615,
            "78": b"\x00\x01\x02\xff",
            "io": {"list": [b"\x10", 2**63 - 1], "f": 0.1, "ok": True, "s": "é"},
        },
    )
    received = receive_record("telemetry:avl", fields, now, OneTracker())
    assert isinstance(received.decoded, Position)
    return received.decoded


def test_a_record_with_bigint_and_buffer_lands_as_one_exact_row_and_a_replay_adds_none(writer):
    position = streams_position(time.time())
    writer.write([position])
    writer.write([position])  # the same entry again (a redelivery or replay)
    writer.write([position, position])  # and twice in one batch
    rows = list(PositionRecord.objects.filter(vehicle_id="bus-7"))
    assert len(rows) == 1
    assert rows[0].speed == pytest.approx(10.0)
    assert rows[0].attributes == {
        "240": 18446744073709551615,
        "78": base64.b64encode(b"\x00\x01\x02\xff").decode(),
        "io": {"list": ["EA==", 2**63 - 1], "f": 0.1, "ok": True, "s": "é"},
    }
    with connection.cursor() as cursor:  # stored as a jsonb number, not a string or float
        cursor.execute(
            "SELECT jsonb_typeof(attributes->'240'), (attributes->>'240')::numeric::text "
            "FROM realtime_engine_positionrecord WHERE vehicle_id = 'bus-7'"
        )
        assert cursor.fetchone() == ("number", "18446744073709551615")


def test_an_mqtt_position_without_attributes_is_stored_with_an_empty_bag(writer):
    now = time.time()
    writer.write([Position("bus-8", 1.0, 2.0, int(now) - 5, now)])
    assert PositionRecord.objects.get(vehicle_id="bus-8").attributes == {}


def test_the_json_form_is_one_function():
    assert attributes_json(None) == attributes_json({}) == "{}"
    assert (
        attributes_json({"a": 2**64 - 1, "b": b"\x00"}) == '{"a":18446744073709551615,"b":"AA=="}'
    )
