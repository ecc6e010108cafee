"""The reference Streams publisher against the real Redis and PostgreSQL.

What it XADDs is read back through the Streams ingress's own ``receive_record`` with the
real vehicle registry: the same positions, under the vehicles' tracker IMEIs. Also: the
IMEIs the simulator and the replay give their vehicles, trimming, a Redis that goes away
mid-session, and the commands' ``--ingress streams`` wiring.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from zoneinfo import ZoneInfo

import pytest
import redis
from django.core.management import CommandError, call_command

from realtime_engine.ingest.streams.record import receive_record
from realtime_engine.ingest.vehicle_registry import VehicleRegistry
from realtime_engine.replay.plan import plan_replay
from realtime_engine.replay.runner import replay_prepare
from realtime_engine.replay.trace import TracePing
from realtime_engine.simulation.ingress import Ingress, IngressChoice, publisher_open
from realtime_engine.simulation.publishing import Fix, Load
from realtime_engine.simulation.runner import fleet_prepare
from realtime_engine.simulation.streams_publisher import StreamsPublisher
from realtime_engine.tests.test_replay_service_day import week_old_trace
from runs.domain.telemetry.position import Position
from runs.models import Vehicle, validate_tracker_imei
from runs.services.fleet import company_register, luhn_check_digit, vehicle_register
from runs.tests.fixtures.feed import TIMEZONE, write_feed
from schedule_engine.demo_network import DEMO_NETWORK_DIR
from schedule_engine.testing import import_feed
from tests.support.processes import start_redis

pytestmark = pytest.mark.django_db(transaction=True)

STREAM = "test:avl"
NOW = int(time.time()) - 60


def read_back(client, stream: str) -> list[Position]:
    """Every entry of ``stream`` as the Streams consumer decodes it (rejections fail)."""
    registry = VehicleRegistry(refresh_s=60)
    registry.refresh_if_due()
    positions = []
    for _, fields in client.xrange(stream):
        received = receive_record(stream, fields, time.time(), registry)
        assert isinstance(received.decoded, Position), received.decoded
        positions.append(received.decoded)
    return positions


def streams_choice(stream: str = STREAM, maxlen: int = 10_000) -> IngressChoice:
    return IngressChoice(Ingress.STREAMS, stream, maxlen)


def test_fixes_read_back_as_the_same_positions_of_the_same_vehicles(redis_client):
    _, fleet = fleet_prepare(2)
    ids = [v.vehicle_id for v in fleet]
    publisher = publisher_open(streams_choice(), vehicle_ids=ids, name="test")
    fixes = [
        Fix(9.9325, -84.0795, NOW, bearing=271.5, speed_mps=12.5, odometer_m=40_731_204),
        Fix(9.9331, -84.0801, NOW + 1),  # no optionals: none read back
        Fix(9.9338, -84.0807, NOW + 2, bearing=0.0, speed_mps=0.0, odometer_m=40_731_229),
    ]
    for n, fix in enumerate(fixes):
        publisher.publish_position(ids[n % 2], fix)
    publisher.publish_occupancy(ids[0], Load(count=20, percentage=40, timestamp=NOW))
    assert redis_client.xlen(STREAM) == 0, "buffered until the flush"
    publisher.flush()

    positions = read_back(redis_client, STREAM)
    assert publisher.published == len(positions) == 3, "a load has no place in the record"
    assert publisher.skipped_occupancy == 1
    for n, (fix, position) in enumerate(zip(fixes, positions, strict=True)):
        assert position.vehicle_id == ids[n % 2]
        assert (position.latitude, position.longitude) == (fix.latitude, fix.longitude)
        assert (position.timestamp, position.bearing) == (fix.timestamp, fix.bearing)
        assert position.speed == (None if fix.speed_mps is None else pytest.approx(fix.speed_mps))
        odometer = None if fix.odometer_m is None else {"16": fix.odometer_m}
        assert (position.attributes or None) == odometer
    assert publisher.close() == 0


def test_simulated_and_replayed_vehicles_keep_one_valid_imei_and_real_ones_keep_theirs():
    _, fleet = fleet_prepare(3)
    imeis = [v.vehicle.tracker_imei for v in fleet]
    assert len(set(imeis)) == 3
    for imei in imeis:
        validate_tracker_imei(imei)
        assert len(imei) == 15 and luhn_check_digit(imei[:14]) == imei[14]
    _, again = fleet_prepare(3)
    assert [v.vehicle.tracker_imei for v in again] == imeis

    company = company_register(name="Agency")
    vehicle_register(vehicle_id="BUS-7", company=company, label="7")
    Vehicle.objects.filter(pk="BUS-7").update(tracker_imei="356307042441013")
    ping = TracePing("BUS-7", "7", "T1", "R1", 0, dt.date(2026, 11, 23), "10:00:00", 1, 2, 0, 0, 1)
    replay_prepare(plan_replay([ping]))
    assert Vehicle.objects.get(pk="BUS-7").tracker_imei == "356307042441013"


def test_the_stream_is_trimmed_to_about_maxlen(redis_client):
    _, fleet = fleet_prepare(1)
    publisher = publisher_open(
        streams_choice(maxlen=500), vehicle_ids=[fleet[0].vehicle_id], name="test"
    )
    for n in range(5_000):
        publisher.publish_position(fleet[0].vehicle_id, Fix(9.93, -84.08, NOW - 5_000 + n))
    publisher.close()
    assert publisher.published == 5_000
    # Approximate: whole stream nodes (100 entries by default) are dropped, never one less
    # than MAXLEN is kept.
    assert 500 <= redis_client.xlen(STREAM) < 1_000
    newest = redis_client.xrevrange(STREAM, count=1)[0][1]
    assert str(NOW - 1) in newest["payload"]


def test_entries_published_while_redis_is_away_are_added_once_it_is_back(tmp_path):
    handle, port = start_redis(tmp_path / "redis")
    client = redis.Redis(port=port, decode_responses=True, socket_timeout=2)
    publisher = StreamsPublisher(client, STREAM, {"V1": "356307042441013"}, close_timeout_s=20)
    try:
        publisher.publish_position("V1", Fix(9.93, -84.08, NOW))
        publisher.flush()
        handle.stop()
        for n in range(1, 4):
            publisher.publish_position("V1", Fix(9.93, -84.08, NOW + n))
        publisher.flush()  # refused: kept, not raised
        assert (publisher.published, publisher.buffered) == (1, 3)
        handle, _ = start_redis(tmp_path / "redis", port=port)  # empty: no persistence
        assert publisher.close() == 0
        assert publisher.published == 4
        # The restarted Redis is empty: it holds the three entries kept while it was away.
        payloads = [fields["payload"] for _, fields in client.xrange(STREAM)]
        assert len(payloads) == 3 and str((NOW + 3) * 1000) in payloads[-1]
    finally:
        handle.stop()


def test_simulate_with_ingress_streams_writes_the_default_stream_and_no_mqtt(
    redis_client, settings
):
    import_feed(DEMO_NETWORK_DIR)
    settings.STREAMS_KEYS = ["test:avl:sim", "test:avl:other"]
    settings.MQTT_URL = "mqtt://127.0.0.1:1"  # nothing listens: streams needs no broker
    output = io.StringIO()
    call_command(
        "simulate",
        *("--vehicles", "2", "--speedup", "60", "--duration", "2", "--ingress", "streams"),
        stdout=output,
    )
    assert "stream 'test:avl:sim'" in output.getvalue(), output.getvalue()
    positions = read_back(redis_client, "test:avl:sim")
    assert {p.vehicle_id for p in positions} == {"SIM-001", "SIM-002"}, output.getvalue()
    assert f"stopped: {len(positions)} messages published (0 undelivered)" in output.getvalue()
    assert not redis_client.exists("test:avl:other")


def test_simulate_refuses_mqtt_fault_payloads_on_the_streams_ingress():
    with pytest.raises(CommandError, match="--ingress mqtt"):
        call_command("simulate", "--ingress", "streams", "--faults", "stale,malformed")


def test_replay_with_ingress_streams_publishes_the_trace_to_the_given_stream(
    tmp_path, redis_client, settings
):
    import_feed(write_feed(tmp_path / "gtfs", {"T1": 600, "T2": 660}))
    trace = tmp_path / "trace.csv"
    today = dt.datetime.now(ZoneInfo(TIMEZONE)).date()
    week_old_trace(
        trace, trace_day=today - dt.timedelta(days=7), start_time="10:00:00", time_of_day_s=36_000
    )
    settings.MQTT_URL = "mqtt://127.0.0.1:1"  # nothing listens: streams needs no broker
    output = io.StringIO()
    call_command(
        "replay_avl",
        *(str(trace), "--start-now", "--speed", "1000", "--ingress", "streams"),
        *("--stream", "test:avl:replay"),
        stdout=output,
    )
    assert "published 12, runs started 1," in output.getvalue(), output.getvalue()
    positions = read_back(redis_client, "test:avl:replay")
    assert [p.vehicle_id for p in positions] == ["R-1"] * 12
    longitudes = [p.longitude for p in positions]
    assert longitudes == sorted(longitudes) and len(set(longitudes)) == 12  # driving east
    # 6 m/s a thousand times faster, capped at the ingress bound as over MQTT.
    assert {round(p.speed, 6) for p in positions} == {150.0}
