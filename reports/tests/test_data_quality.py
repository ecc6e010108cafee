"""Data quality over stored positions, stop events and the dead-letter stream: vehicles
reporting, ping intervals (session breaks left out), the share matched on-route and the
dead letters by reason, per agency day."""

from __future__ import annotations

import datetime as dt

import pytest

from databus import keys
from realtime_engine.models import PositionRecord
from reports.filters import ReportFilters
from reports.selectors.data_quality import data_quality_report
from reports.tests.test_on_time_network import DAY, TZ, Network

pytestmark = pytest.mark.django_db
EIGHT = dt.datetime.combine(DAY, dt.time(8), tzinfo=TZ)


def pings(vehicle_id: str, seconds: list[int]) -> None:
    PositionRecord.objects.bulk_create(
        PositionRecord(
            vehicle_id=vehicle_id, timestamp=EIGHT + dt.timedelta(seconds=s),
            latitude=38.9, longitude=-77.0, received_at=EIGHT + dt.timedelta(seconds=s),
        )
        for s in seconds
    )  # fmt: skip


def letter(client, at: dt.datetime, reason: str) -> None:
    client.xadd(keys.TELEMETRY_DLQ, {"reason": reason}, id=f"{int(at.timestamp() * 1000)}-0")


def test_the_days_measures(redis_client):
    net = Network()
    net.trip("T", [("S1", "08:00:00", "08:00:00"), ("S2", "08:00:30", "08:00:30")])
    run = net.run("T", vehicle_id="VA")
    net.calls(run, {1: (0, 0), 2: (0, None)})  # on its trip from 08:00:00 to 08:00:30
    pings("VA", [0, 10, 20, 30, 40, 50, 60, 7260])  # the last after a 2 h break
    pings("VB", [0, 30, 60])
    midnight = dt.datetime.combine(DAY, dt.time(), tzinfo=TZ)  # ids only grow: oldest first
    letter(redis_client, midnight - dt.timedelta(milliseconds=1), "payload_too_large")
    letter(redis_client, EIGHT, "invalid_json")
    letter(redis_client, EIGHT + dt.timedelta(minutes=1), "invalid_json")
    letter(redis_client, EIGHT + dt.timedelta(minutes=2), "unknown_vehicle")

    report = data_quality_report(ReportFilters(DAY, DAY))
    (day,) = report.rows
    assert day == {
        "date": DAY.isoformat(),
        "vehicles_reporting": 2,
        "pings": 11,
        # Gaps 10 s (six) and 30 s (two) (the 7,200 s break left out): nearest rank.
        "ping_interval_median_s": 10.0,
        "ping_interval_p95_s": 30.0,
        "pings_matched": 4,
        "matched_share": 4 / 11,
        "dead_letters": 3,
    }
    assert report.dead_letters == [
        {"reason": "invalid_json", "count": 2},
        {"reason": "unknown_vehicle", "count": 1},
    ]
    before = DAY - dt.timedelta(days=1)
    two_days = data_quality_report(ReportFilters(before, DAY))
    assert [r["dead_letters"] for r in two_days.rows] == [1, 3]
    assert two_days.rows[0]["pings"] == 0 and two_days.rows[0]["matched_share"] is None
