"""The real fixtures: WMATA (three bus routes, 232,187 stop times) and CUTR's test agency.

WMATA is imported once for this module (committed to the test database, deleted
after the module) because the import takes seconds; each test then runs in its
own rolled-back transaction on top of it.
"""

import datetime as dt
import itertools
import math
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from conftest import SHARED
from schedule_engine import geometry_cache, selectors
from schedule_engine.models import Feed, Frequency, ShapePoint, Stop, StopTime, Trip
from schedule_engine.services import feed_import
from schedule_engine.testing import import_feed

WMATA_ZIP = SHARED / "fixtures" / "wmata" / "gtfs.zip"
CUTR_ZIP = SHARED / "fixtures" / "cutr" / "testagency.zip"
NEW_YORK = ZoneInfo("America/New_York")
PRESIDENTS_DAY = dt.date(2026, 2, 16)  # a Monday on which calendar_dates swaps service 9 for 4


@pytest.fixture(scope="module")
def wmata(django_db_setup, django_db_blocker) -> Feed:
    with django_db_blocker.unblock():
        result = feed_import(path=WMATA_ZIP, name="wmata", activate=True)
        geometry_cache.invalidate()
        yield result
        Feed.objects.filter(pk=result.feed.pk).delete()
        geometry_cache.invalidate()


def _scalar(sql: str, *params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_wmata_counts(wmata):
    feed = wmata.feed
    assert wmata.counts["stop_times.txt"] == feed.stop_time_count == 232_187
    assert StopTime.objects.filter(feed=feed).count() == 232_187
    assert Trip.objects.filter(feed=feed).count() == 4_167
    assert Stop.objects.filter(feed=feed).count() == 347
    assert ShapePoint.objects.filter(feed=feed).values("shape_id").distinct().count() == 15
    assert feed.timezone == "America/New_York"
    assert (feed.valid_from, feed.valid_until) == (dt.date(2025, 12, 14), dt.date(2026, 6, 13))
    assert wmata.warnings == []


@pytest.mark.django_db
def test_wmata_references_all_resolve(wmata):
    feed_id = wmata.feed.pk
    orphans = {
        "stop_time→stop": """SELECT count(*) FROM schedule_engine_stoptime st WHERE st.feed_id=%s
            AND NOT EXISTS (SELECT 1 FROM schedule_engine_stop s
                            WHERE s.feed_id=st.feed_id AND s.stop_id=st.stop_id)""",
        "stop_time→trip": """SELECT count(*) FROM schedule_engine_stoptime st WHERE st.feed_id=%s
            AND NOT EXISTS (SELECT 1 FROM schedule_engine_trip t
                            WHERE t.feed_id=st.feed_id AND t.trip_id=st.trip_id)""",
        "trip→route": """SELECT count(*) FROM schedule_engine_trip t WHERE t.feed_id=%s
            AND NOT EXISTS (SELECT 1 FROM schedule_engine_route r
                            WHERE r.feed_id=t.feed_id AND r.route_id=t.route_id)""",
        "trip→shape": """SELECT count(*) FROM schedule_engine_trip t WHERE t.feed_id=%s
            AND NOT EXISTS (SELECT 1 FROM schedule_engine_shapepoint p
                            WHERE p.feed_id=t.feed_id AND p.shape_id=t.shape_id)""",
    }
    assert {name: _scalar(sql, feed_id) for name, sql in orphans.items()} == dict.fromkeys(
        orphans, 0
    )


@pytest.mark.django_db
def test_wmata_stop_sequences_keep_the_feeds_numbering(wmata):
    trip = selectors.scheduled_trip_get("87010")
    assert trip.stops[0].stop_sequence == 2  # WMATA numbers from 2, with gaps
    assert [s.stop_sequence for s in trip.stops[:4]] == [2, 3, 4, 6]
    assert trip.start_time == "15:25:00"
    assert trip.route_id and trip.shape_id and trip.feed_id == wmata.feed.pk


@pytest.mark.django_db
def test_wmata_distances_along_shape_are_monotonic_and_within_the_shape(wmata):
    geometries = geometry_cache.build_trip_geometries(wmata.feed.pk)
    assert len(geometries) == 4_167
    for geometry in geometries.values():
        distances = geometry.stop_distances_m
        assert all(a <= b for a, b in itertools.pairwise(distances)), geometry.trip_id
        assert distances[0] >= 0.0 and distances[-1] <= geometry.length_m + 1e-6
    # Each stop of a trip lies near the shape at its assigned distance; the trip spans the shape.
    trip = geometries["87010"]
    coords = {
        stop_id: (lat, lon)
        for stop_id, lat, lon in Stop.objects.filter(feed=wmata.feed).values_list(
            "stop_id", "lat", "lon"
        )
    }
    for stop_id, distance in zip(trip.stop_ids, trip.stop_distances_m, strict=True):
        x, y = trip.projection.to_xy(*coords[stop_id])
        px, py = trip.polyline.point_at(distance)
        assert math.hypot(x - px, y - py) < 60, stop_id
    assert trip.stop_distances_m[-1] - trip.stop_distances_m[0] > 0.9 * trip.length_m


@pytest.mark.django_db
def test_wmata_geometry_lookups_are_cached_without_queries(wmata, django_assert_num_queries):
    first = selectors.trip_geometry_get("87010")  # may build the cache
    assert first is not None and first.stop_sequences[0] == 2
    with django_assert_num_queries(0):
        for _ in range(1000):
            assert selectors.trip_geometry_get("87010") is first
        assert selectors.trip_geometry_get("no-such-trip") is None


@pytest.mark.django_db
def test_wmata_presidents_day_runs_the_holiday_service(wmata):
    holiday = selectors.service_day_trips(PRESIDENTS_DAY)
    monday_before = selectors.service_day_trips(dt.date(2026, 2, 9))
    assert {i.service_id for i in holiday} == {"4"}
    assert len(holiday) == Trip.objects.filter(feed=wmata.feed, service_id="4").count() == 462
    assert {i.service_id for i in monday_before} == {"9"}
    assert len(monday_before) == 560


@pytest.mark.django_db
def test_wmata_trips_after_midnight_have_next_day_absolute_times(wmata):
    holiday = selectors.service_day_trips(PRESIDENTS_DAY)
    late = [i for i in holiday if i.last_arrival.date() > PRESIDENTS_DAY]
    assert late, "WMATA runs past midnight"
    trip = late[-1]
    gtfs = selectors.scheduled_trip_get(trip.trip_id)
    last = gtfs.stops[-1]
    assert last.arrival_s >= 24 * 3600
    midnight = dt.datetime(2026, 2, 16, tzinfo=NEW_YORK)
    assert trip.stop_times[-1].arrival == midnight + dt.timedelta(seconds=last.arrival_s)
    assert trip.first_departure == midnight + dt.timedelta(seconds=gtfs.stops[0].departure_s)


@pytest.mark.django_db
def test_cutr_feed_imports_with_warnings_for_what_it_gets_wrong():
    feed = import_feed(CUTR_ZIP, name="cutr")
    assert (feed.trip_count, feed.stop_time_count) == (33, 80)
    assert Stop.objects.filter(feed=feed).count() == 24
    # Its stops name a parent station that does not exist: kept, reported, link dropped.
    assert Stop.objects.get(feed=feed, stop_id="A").parent_station == ""
    trip = selectors.scheduled_trip_get("18.1")
    assert trip.direction_id is None  # "N" is not a direction_id
    assert Frequency.objects.filter(feed=feed, trip_id="15.1", exact_times=True).count() == 2


@pytest.mark.django_db
def test_cutr_shapes_give_distances_and_frequencies_expand():
    feed = import_feed(CUTR_ZIP, name="cutr")
    trip = selectors.scheduled_trip_get("4.1")
    distances = [s.distance_m for s in trip.stops]
    assert distances == sorted(distances) and distances[0] == pytest.approx(0.0, abs=1)
    # The feed's shape_dist_traveled (unknown units) is kept as given beside the metres.
    assert (
        StopTime.objects.get(feed=feed, trip_id="5.1", stop_sequence=2).shape_dist_traveled == 22.5
    )
    saturday = dt.date(2026, 2, 14)
    instances = selectors.service_day_trips(saturday)
    assert not any(i.service_id == "weekdays" for i in instances)
    freq = [i.start_time for i in instances if i.trip_id == "15.1"]
    assert freq == [
        "06:00:00",
        "07:00:00",
        "08:00:00",
        "09:00:00",
        "10:00:00",
        "14:00:00",
        "15:00:00",
        "16:00:00",
        "17:00:00",
        "18:00:00",
    ]
    weekday = selectors.service_day_trips(dt.date(2026, 2, 13))
    late = next(i for i in weekday if i.trip_id == "4.3")
    assert late.last_arrival == dt.datetime(2026, 2, 14, 0, 40, tzinfo=NEW_YORK)
