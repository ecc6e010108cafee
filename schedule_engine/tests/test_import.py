"""Importing small feeds: what is stored, derived times and distances, re-imports, activation."""

import datetime as dt
import io
import zipfile
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from schedule_engine import selectors
from schedule_engine.models import Feed, ShapePoint, Stop, StopTime, Trip
from schedule_engine.services import FeedDeleteRefused, feed_activate, feed_delete, feed_import
from schedule_engine.testing import TINY_FEED, import_feed, write_feed

pytestmark = pytest.mark.django_db
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def tiny(tmp_path) -> Feed:
    return import_feed(write_feed(tmp_path / "tiny", TINY_FEED), name="tiny")


def test_tiny_feed_is_stored_with_its_counts_and_is_current(tiny):
    assert selectors.current_feed_get() == tiny
    assert tiny.name == "tiny" and tiny.timezone == "America/New_York"
    assert (tiny.valid_from, tiny.valid_until) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert Trip.objects.filter(feed=tiny).count() == tiny.trip_count == 4
    assert StopTime.objects.filter(feed=tiny).count() == tiny.stop_time_count == 14
    assert Stop.objects.get(feed=tiny, stop_id="S1").parent_station == "ST"


def test_shape_distances_are_computed_in_metres_when_the_feed_has_none(tiny):
    distances = list(
        ShapePoint.objects.filter(feed=tiny, shape_id="SH1")
        .order_by("sequence")
        .values_list("distance_m", flat=True)
    )
    assert distances[0] == 0.0
    assert distances[1] == pytest.approx(600.4, abs=1.0)  # 0.0054° of latitude
    assert distances[2] == pytest.approx(1200.8, abs=2.0)


def test_missing_intermediate_times_are_interpolated_by_distance(tiny):
    trip = selectors.scheduled_trip_get("T1")
    first, second, third, _ = trip.stops
    assert trip.start_time == "08:00:00"
    # S2 is halfway (by distance) between S1 (08:00:00) and S3 (arrival 08:05:00).
    assert second.arrival_s == second.departure_s == pytest.approx(8 * 3600 + 150, abs=2)
    assert not second.timepoint and first.timepoint and third.timepoint
    assert (third.arrival_s, third.departure_s) == (8 * 3600 + 300, 8 * 3600 + 330)


def test_stop_distances_are_projected_and_increasing(tiny):
    trip = selectors.scheduled_trip_get("LATE")
    distances = [stop.distance_m for stop in trip.stops]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(0.0, abs=0.5)
    assert distances[-1] == pytest.approx(1200.8, abs=2.0)
    assert [stop.stop_sequence for stop in trip.stops] == [10, 20, 30, 40]


def test_times_after_midnight_give_next_morning_absolute_times(tiny):
    friday = dt.date(2026, 2, 13)
    late = next(i for i in selectors.service_day_trips(friday) if i.trip_id == "LATE")
    assert late.service_date == friday
    assert late.start_time == "24:50:00"
    assert late.first_departure == dt.datetime(2026, 2, 14, 0, 50, tzinfo=NEW_YORK)
    assert late.stop_times[-1].arrival == dt.datetime(2026, 2, 14, 1, 10, tzinfo=NEW_YORK)


def test_frequency_trips_expand_into_instances_with_exact_and_headway_flags(tiny):
    trips = selectors.service_day_trips(dt.date(2026, 2, 13))
    freq = [i for i in trips if i.trip_id == "FREQ"]
    assert [i.start_time for i in freq] == ["06:00:00", "06:20:00", "06:40:00"]
    assert all(i.frequency_based and i.exact_times for i in freq)
    assert freq[2].stop_times[-1].arrival == dt.datetime(2026, 2, 13, 6, 52, tzinfo=NEW_YORK)
    headway = [i for i in trips if i.trip_id == "HEADWAY"]
    assert [i.start_time for i in headway] == ["10:00:00", "10:30:00"]
    assert not any(i.exact_times for i in headway)
    assert headway[1].last_arrival == dt.datetime(2026, 2, 13, 10, 45, tzinfo=NEW_YORK)
    assert [i.first_departure for i in trips] == sorted(i.first_departure for i in trips)


def test_service_day_honours_calendar_date_exceptions(tiny):
    assert len(selectors.service_day_trips(dt.date(2026, 2, 13))) == 1 + 1 + 3 + 2
    assert selectors.service_day_trips(dt.date(2026, 2, 16)) == []  # Presidents' Day removed
    assert selectors.service_day_trips(dt.date(2026, 2, 14)) == []  # Saturday


def test_identical_content_is_detected_and_skipped(tiny, tmp_path):
    # The same files zipped: a different container, the same content.
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, text in TINY_FEED.items():
            zipped.writestr(f"feed/{name}", text)
    result = feed_import(path=archive)
    assert not result.created and result.feed.pk == tiny.pk
    assert Feed.objects.count() == 1


def test_activation_switches_the_current_version_and_old_ones_can_be_deleted(tiny, tmp_path):
    changed = dict(TINY_FEED, **{"routes.txt": TINY_FEED["routes.txt"].replace("Main", "High")})
    second = import_feed(write_feed(tmp_path / "second", changed), activate=False)
    assert selectors.current_feed_get() == tiny
    feed_activate(feed=second)
    assert selectors.current_feed_get() == second
    assert list(Feed.objects.filter(is_current=True)) == [second]
    assert selectors.scheduled_trip_get("T1").feed_id == second.pk
    tiny.refresh_from_db()
    with pytest.raises(FeedDeleteRefused):
        feed_delete(feed=second)
    feed_delete(feed=tiny)
    assert not Trip.objects.filter(feed_id=tiny.pk).exists()
    assert StopTime.objects.filter(feed_id=second.pk).count() == 14


def test_csv_quirks_bom_quotes_extra_columns_and_blank_lines_are_read(tmp_path):
    files = dict(TINY_FEED)
    files["agency.txt"] = "\ufeff" + files["agency.txt"]
    files["stops.txt"] = (
        "stop_id,stop_name,stop_lat,stop_lon,vendor_extra,location_type,parent_station\n"
        'ST,"Tiny Station, ""Main"" Hall",40.7000,-74.0000,x,1,\n'
        'S1,"First\nstop",40.7000,-74.0000,y,0,ST\n'
        "\n"
        "S2,Second,40.7036,-74.0000,,0,\n"
        "S3,Third,40.7072,-74.0000,,,\n"
        "S4,Fourth,40.7108,-74.0000,,,\n"
    )
    feed = import_feed(write_feed(tmp_path / "quirky", files))
    assert Stop.objects.get(feed=feed, stop_id="ST").name == 'Tiny Station, "Main" Hall'
    assert Stop.objects.get(feed=feed, stop_id="S1").name == "First\nstop"
    assert Stop.objects.filter(feed=feed).count() == 5


def test_optional_files_may_be_absent(tmp_path):
    files = {
        k: v
        for k, v in TINY_FEED.items()
        if k not in ("shapes.txt", "frequencies.txt", "calendar.txt")
    }
    files["trips.txt"] = files["trips.txt"].replace(",SH1", ",")
    files["calendar_dates.txt"] += "WK,20260217,1\n"
    feed = import_feed(write_feed(tmp_path / "minimal", files))
    assert selectors.scheduled_trip_get("T1").stops[1].distance_m is None
    assert {i.trip_id for i in selectors.service_day_trips(dt.date(2026, 2, 17))} == {
        "T1",
        "LATE",
        "FREQ",
        "HEADWAY",
    }
    assert feed.valid_from == dt.date(2026, 2, 17)


def test_command_prints_a_line_per_file_and_the_result(tmp_path):
    out = io.StringIO()
    call_command(
        "import_gtfs",
        str(write_feed(tmp_path / "f", TINY_FEED)),
        "--activate",
        "--name",
        "tiny",
        stdout=out,
    )
    text = out.getvalue()
    for name in ("agency.txt", "stops.txt", "trips.txt", "stop_times.txt", "frequencies.txt"):
        assert f"{name}: " in text
    assert "stop_times.txt: 14 rows" in text
    assert "tiny: imported, current" in text
    out = io.StringIO()
    call_command("import_gtfs", str(tmp_path / "f"), stdout=out)
    assert "identical to feed" in out.getvalue()


def test_feeds_command_lists_activates_and_deletes(tiny, tmp_path):
    other = import_feed(
        write_feed(
            tmp_path / "o",
            dict(
                TINY_FEED, **{"agency.txt": TINY_FEED["agency.txt"].replace("Tiny Agency", "Other")}
            ),
        ),
        activate=False,
        name="other",
    )
    out = io.StringIO()
    call_command("gtfs_feeds", "list", stdout=out)
    lines = out.getvalue().splitlines()
    assert any(line.startswith("*") and "tiny" in line for line in lines)
    assert any(line.startswith(" ") and "other" in line for line in lines)
    call_command("gtfs_feeds", "activate", str(other.pk), stdout=io.StringIO())
    assert selectors.current_feed_get() == other
    call_command("gtfs_feeds", "delete", str(tiny.pk), stdout=io.StringIO())
    assert list(Feed.objects.all()) == [other]
