"""The shipped demo network: valid GTFS (gtfs-validator, no errors) that imports and runs
from early morning to after midnight, weekdays and weekends, with a frequency-based route."""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from schedule_engine import selectors
from schedule_engine.demo_network import DEMO_NETWORK_DIR
from schedule_engine.models import Route, Stop
from schedule_engine.testing import import_feed

VALIDATOR = Path(sys.executable).with_name("gtfs-validator")


def test_demo_network_passes_gtfs_validator_with_no_errors(tmp_path):
    subprocess.run(
        [str(VALIDATOR), "-i", str(DEMO_NETWORK_DIR), "-o", str(tmp_path), "-d", "2026-11-22"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    notices = json.loads((tmp_path / "report.json").read_text())["notices"]
    errors = [n for n in notices if n["severity"] == "ERROR"]
    assert errors == []
    # The report did look at the feed.
    assert json.loads((tmp_path / "report.json").read_text())["summary"]


@pytest.mark.django_db
def test_demo_network_imports_and_serves_every_day_of_the_week():
    feed = import_feed(DEMO_NETWORK_DIR, name="demo")
    assert Route.objects.filter(feed=feed).count() == 4
    assert 25 <= Stop.objects.filter(feed=feed).count() <= 35
    monday, saturday, sunday = dt.date(2026, 11, 23), dt.date(2026, 11, 28), dt.date(2026, 11, 29)
    for day in (monday, saturday, sunday):
        trips = selectors.service_day_trips(day, with_stop_times=False)
        assert {t.route_id for t in trips} == {"1", "2", "3", "10"}
        assert trips[0].first_departure.hour <= 7
        assert trips[-1].last_arrival.date() > day  # service runs past midnight
    weekday = selectors.service_day_trips(monday, with_stop_times=False)
    shuttle = [t for t in weekday if t.route_id == "10"]
    assert all(t.frequency_based and t.exact_times for t in shuttle)
    assert len(shuttle) > 100
    assert not any(t.exact_times for t in selectors.service_day_trips(sunday) if t.route_id == "10")
    # Thanksgiving runs the Sunday service.
    thanksgiving = selectors.service_day_trips(dt.date(2026, 11, 26), with_stop_times=False)
    assert {t.service_id for t in thanksgiving} == {"SU"}
