"""The shipped demo network: valid GTFS (gtfs-validator, no errors) that imports and runs
from early morning to after midnight, weekdays and weekends, with a frequency-based route,
a headway-only weekday circulator, and blocks one bus runs in turn."""

import datetime as dt
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from alerts.models import ServiceAlert
from alerts.selectors import alerts_active
from realtime_engine.tests.lifecycle_support import demo_feed_at_peak
from runs.models import TripOperation
from schedule_engine import blocks, selectors
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
    assert Route.objects.filter(feed=feed).count() == 5
    assert 25 <= Stop.objects.filter(feed=feed).count() <= 35
    monday, saturday, sunday = dt.date(2026, 11, 23), dt.date(2026, 11, 28), dt.date(2026, 11, 29)
    for day, routes in ((monday, {"20"}), (saturday, set()), (sunday, set())):
        trips = selectors.service_day_trips(day, with_stop_times=False)
        assert {t.route_id for t in trips} == {"1", "2", "3", "10"} | routes
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


@pytest.mark.django_db
def test_demo_circulator_runs_by_headway_only_on_weekdays():
    import_feed(DEMO_NETWORK_DIR, name="demo")
    monday = dt.date(2026, 11, 23)
    circulator = [t for t in selectors.service_day_trips(monday) if t.route_id == "20"]
    assert len(circulator) > 50
    assert all(t.frequency_based and not t.exact_times for t in circulator)
    assert circulator[0].first_departure.time() == dt.time(6, 30)
    # A loop: it ends where it starts, at Central Station's platform.
    assert circulator[0].stop_times[0].stop_id == circulator[0].stop_times[-1].stop_id
    assert Stop.objects.get(stop_id=circulator[0].stop_times[0].stop_id).parent_station == "APCS"


@pytest.mark.django_db
def test_demo_blocks_chain_trips_with_a_layover_at_the_terminal():
    feed = import_feed(DEMO_NETWORK_DIR, name="demo")
    monday = dt.date(2026, 11, 23)
    by_id = {t.trip_id: t for t in selectors.service_day_trips(monday)}
    blocks.clear()
    chained = 0
    for trip_id, trip in by_id.items():
        nxt = blocks.next_trip_in_block(trip_id, monday, feed_id=feed.pk)
        if trip.frequency_based:
            assert nxt is None  # the shuttle and the circulator run by frequency
            continue
        if nxt is None:
            continue  # the last trip of its block
        chained += 1
        following = by_id[nxt.trip_id]
        assert following.route_id == trip.route_id
        # The bus turns where it arrived, after 5 to 30 minutes.
        assert following.stop_times[0].stop_id == trip.stop_times[-1].stop_id
        layover = (following.first_departure - trip.last_arrival).total_seconds()
        assert layover == nxt.layover_s
        assert 300 <= layover <= 1800
    timetabled = [t for t in by_id.values() if not t.frequency_based]
    # Every timetabled trip is in a block, and all but each block's last have a next trip.
    assert chained >= len(timetabled) - 20


def _demo_script():
    """``scripts/demo.py`` (what ``make demo`` runs) as a module."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"
    spec = importlib.util.spec_from_file_location("demo_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_make_demo_starts_with_an_active_alert_and_a_detour(tmp_path):
    now = dt.datetime.now(dt.UTC)
    import_feed(demo_feed_at_peak(tmp_path / "gtfs", now), name="demo")
    demo = _demo_script()
    demo.ensure_admin()
    lines = demo.dispatcher_day()
    after = dt.datetime.now(dt.UTC)
    assert {a.effect for a in alerts_active(now=after)} == {"SIGNIFICANT_DELAYS", "DETOUR"}
    detour = TripOperation.objects.get()
    assert (detour.kind, detour.route_id, detour.direction_id) == ("skip_stops", "1", 0)
    assert detour.skipped_stop_sequences == [3, 4]
    assert detour.active_until > now
    assert any(detour.trip_id in line for line in lines)
    # A demo started again finds them instead of announcing them twice.
    demo.dispatcher_day()
    assert (ServiceAlert.objects.count(), TripOperation.objects.count()) == (2, 1)
