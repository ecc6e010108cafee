"""Acceptance: ``replay_avl --start-now`` publishes a week-old trace's runs on today's service
day, through the real pipeline (MQTT → a celery worker with beat → the stored feeds)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from google.transit import gtfs_realtime_pb2 as rt

from databus.env import parse_mqtt_url
from databus.redis import get_redis
from realtime_engine.tests.test_worker import ingest_env, wait_subscribed
from runs.domain.tests.domain_values import STOPS
from runs.models import Run
from runs.tests.fixtures.feed import TIMEZONE, write_feed
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.service_days import service_day_origin
from schedule_engine.testing import import_feed
from tests.support.processes import wait_for

COLUMNS = (
    "id",
    "vehicle.vehicle.id",
    "vehicle.vehicle.label",
    "vehicle.trip.trip_id",
    "vehicle.trip.route_id",
    "vehicle.trip.direction_id",
    "vehicle.trip.start_date",
    "vehicle.trip.start_time",
    "vehicle.position.latitude",
    "vehicle.position.longitude",
    "vehicle.position.bearing",
    "vehicle.position.speed",
    "vehicle.timestamp",
)
PINGS = 12
PING_EVERY_S = 5


def week_old_trace(path, *, trace_day: dt.date, start_time: str, time_of_day_s: float) -> None:
    """Bus R-1 recorded on T1 a week ago, driving east from S1, starting at ``time_of_day_s``
    seconds into that service day."""
    origin = service_day_origin(trace_day, ZoneInfo(TIMEZONE)).timestamp()
    (_, lat, lon), (_, _, next_lon) = STOPS[0], STOPS[1]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(PINGS):
            row = ("R-1", "R-1", "Replayed 1", "T1", "R1", "0", trace_day.strftime("%Y%m%d"))
            writer.writerow(
                (
                    *row,
                    start_time,
                    lat,
                    lon + (next_lon - lon) * i / PINGS,
                    90.0,
                    6.0,
                    int(origin + time_of_day_s + i * PING_EVERY_S),
                )
            )


def vehicle_trip(client, vehicle_id: str) -> rt.TripDescriptor | None:
    stored = feed_get(client, FeedName.VEHICLE_POSITIONS)
    if stored is None:
        return None
    message = rt.FeedMessage()
    message.ParseFromString(stored.payload)
    for entity in message.entity:
        if entity.vehicle.vehicle.id == vehicle_id and entity.vehicle.HasField("trip"):
            return entity.vehicle.trip
    return None


@pytest.mark.slow
def test_replay_start_now_publishes_the_trace_runs_on_todays_service_date(
    tmp_path, process_env, celery_worker_factory, private_broker, redis_client, settings
):
    tz = ZoneInfo(TIMEZONE)
    now = dt.datetime.now(tz)
    today = now.date()
    since_origin = time.time() - service_day_origin(today, tz).timestamp()
    # T1 left 20 minutes ago; the trace, recorded a week ago, had the bus 10 minutes late.
    departure_min = max(int(since_origin // 60) - 20, 0)
    import_feed(write_feed(tmp_path / "gtfs", {"T1": departure_min, "T2": departure_min + 60}))
    trace = tmp_path / "trace.csv"
    week_old_trace(
        trace,
        trace_day=today - dt.timedelta(days=7),
        start_time=f"{departure_min // 60:02d}:{departure_min % 60:02d}:00",
        time_of_day_s=since_origin - 600,
    )
    worker = celery_worker_factory(
        ingest_env(process_env, private_broker, FEED_BUILD_INTERVAL_S="1"), beat=True
    )
    wait_subscribed(worker)

    settings.MQTT_URL = private_broker
    settings.MQTT_ADDRESS = parse_mqtt_url(private_broker)
    output = io.StringIO()
    call_command("replay_avl", str(trace), "--start-now", "--speed", "10", stdout=output)

    assert "runs started 1," in output.getvalue(), output.getvalue()
    assert list(Run.objects.values_list("trip_id", "start_date")) == [("T1", today)]
    try:
        wait_for(lambda: vehicle_trip(get_redis(), "R-1") is not None, 20, "R-1 on its trip")
    except TimeoutError:
        print(worker.log())
        raise
    trip = vehicle_trip(redis_client, "R-1")
    assert (trip.trip_id, trip.start_date) == ("T1", today.strftime("%Y%m%d"))
