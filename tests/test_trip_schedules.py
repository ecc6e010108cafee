"""The progression's trip schedule cache reads a batch's trips in one query, not one per trip."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realtime_engine import trip_schedules
from realtime_engine.progression import run_trips
from schedule_engine import geometry_cache
from schedule_engine.selectors import scheduled_trip_get, scheduled_trips_get
from tests.test_db_health import tiny_feed  # noqa: F401 (the imported tiny network)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_feed")]

TRIPS = ("T1", "LATE", "FREQ")


@pytest.fixture(autouse=True)
def no_prepared_trips():
    run_trips.clear()
    yield
    run_trips.clear()


def test_many_trips_are_read_with_the_same_stops_as_one_at_a_time():
    together = scheduled_trips_get([*TRIPS, "NO-SUCH-TRIP"])
    assert set(together) == set(TRIPS), "an unknown trip is left out"
    for trip_id in TRIPS:
        assert together[trip_id] == scheduled_trip_get(trip_id)
        sequences = [stop.stop_sequence for stop in together[trip_id].stops]
        assert sequences == sorted(sequences) and sequences


def test_a_cold_cache_reads_a_batchs_trips_in_one_go_then_serves_them_without_a_query():
    geometry_cache.trip_geometry("T1")  # the geometry cache's own read, not counted below
    with CaptureQueriesContext(connection) as queries:
        run_trips.trips_to_match_prefetch([*TRIPS, None, "T1"])
    # Trips, their stop times, the agency time zone: the same three for one trip or three.
    assert len(queries) == 3
    with CaptureQueriesContext(connection) as queries:
        schedules = [
            trip_schedules.trip_schedule_get(t, geometry_cache.trip_geometry(t)) for t in TRIPS
        ]
    assert len(queries) == 0
    assert [s.trip.trip_id for s in schedules] == list(TRIPS)


def test_an_unknown_trip_is_remembered_as_unknown():
    run_trips.trips_to_match_prefetch(["NO-SUCH-TRIP"])
    with CaptureQueriesContext(connection) as queries:
        assert trip_schedules.trip_schedule_get("NO-SUCH-TRIP", None) is None
    assert len(queries) == 0


def test_expired_entries_read_again_keep_their_objects_and_the_prepared_trips(monkeypatch):
    run_trips.trips_to_match_prefetch(TRIPS)
    geometry = geometry_cache.trip_geometry("T1")
    before = trip_schedules.trip_schedule_get("T1", geometry)
    monkeypatch.setattr(trip_schedules, "TTL_S", 0.0)  # every entry is due for a re-read
    with CaptureQueriesContext(connection) as queries:
        run_trips.trips_to_match_prefetch(TRIPS)
    assert len(queries) >= 2, "expired entries are read again, together"
    assert trip_schedules.trip_schedule_get("T1", geometry) is before
