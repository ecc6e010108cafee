"""Acceptance: a slice of the WMATA trace replayed through the real pipeline gives valid feeds.

MQTT (``manage.py replay_avl``) → a real ``celery worker`` with the ingest consumer,
detector dispatch and the progression observer → hot state → the beat-built feeds
served at ``/gtfs-rt/*.pb`` → the ``gtfs-rt-validator`` package against the GTFS
the schedule was imported from (a slice of ``wmata/gtfs.zip`` with the replayed
trips; importing all 230,000 stop times would take most of the time budget).
Timestamps are shifted to now, so freshness rules apply as in production.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from google.transit import gtfs_realtime_pb2

from databus.env import parse_mqtt_url
from realtime_engine.models import StopEvent
from realtime_engine.tests.test_worker import ingest_env, wait_subscribed
from realtime_engine.tests.wmata_slice import write_gtfs_slice
from schedule_engine.testing import import_feed
from tests.support.processes import wait_for

# Four buses on three routes, all met mid-trip; the first ~100 pings (about 8 minutes).
TRIPS = ("30095100", "5326100", "9625100", "16087100")
PINGS = 100
SPEED = 30.0


def feed_of(client, name: str) -> gtfs_realtime_pb2.FeedMessage:
    response = client.get(f"/gtfs-rt/{name}.pb")
    message = gtfs_realtime_pb2.FeedMessage()
    if response.status_code == 200:
        message.ParseFromString(response.content)
    return message


def predicted_trips(client) -> int:
    feed = feed_of(client, "trip-updates")
    return sum(1 for e in feed.entity if len(e.trip_update.stop_time_update) > 1)


@pytest.mark.slow
def test_replayed_wmata_slice_yields_feeds_without_validator_errors(
    fixtures_dir: Path,
    tmp_path: Path,
    process_env,
    celery_worker_factory,
    private_broker,
    redis_client,
    settings,
    client,
):
    wmata = fixtures_dir / "wmata"
    gtfs = write_gtfs_slice(wmata / "gtfs.zip", set(TRIPS), tmp_path / "gtfs.zip")
    import_feed(gtfs)
    env = ingest_env(process_env, private_broker, FEED_BUILD_INTERVAL_S="1")
    worker = celery_worker_factory(env, beat=True)
    wait_subscribed(worker)

    settings.MQTT_URL = private_broker
    settings.MQTT_ADDRESS = parse_mqtt_url(private_broker)
    output = io.StringIO()
    call_command(
        "replay_avl",
        str(wmata / "avl.csv"),
        "--speed",
        str(SPEED),
        "--start-now",
        "--limit",
        str(PINGS),
        "--trips",
        ",".join(TRIPS),
        stdout=output,
    )
    # Their service (4) runs only on Presidents' Day, by calendar_dates: all four get a run.
    assert f"runs started {len(TRIPS)}," in output.getvalue()
    try:
        wait_for(lambda: predicted_trips(client) >= 3, 20, "trip updates with predictions")
    except TimeoutError:
        print(worker.log())
        raise

    (tmp_path / "vp.pb").write_bytes(client.get("/gtfs-rt/vehicle-positions.pb").content)
    (tmp_path / "tu.pb").write_bytes(client.get("/gtfs-rt/trip-updates.pb").content)
    vehicles = feed_of(client, "vehicle-positions")
    assert len(vehicles.entity) == len(TRIPS)
    assert sum(1 for e in vehicles.entity if e.vehicle.HasField("current_stop_sequence")) >= 3
    assert StopEvent.objects.filter(trip_id__in=TRIPS).exists()  # the durable on-time record

    validator = Path(sys.executable).parent / "gtfs-rt-validator"
    out = tmp_path / "report"
    command = [
        str(validator),
        "-gtfs",
        str(gtfs),
        "-vp",
        str(tmp_path / "vp.pb"),
        "-tu",
        str(tmp_path / "tu.pb"),
        "--out",
        str(out),
    ]
    subprocess.run(command, check=False, capture_output=True, timeout=120)
    report = json.loads((out / "report.json").read_text())
    errors = [n for n in report["notices"] if n["severity"] == "ERROR"]
    assert errors == [], json.dumps(errors, indent=1)[:4000]
    assert "Traceback" not in worker.log()
