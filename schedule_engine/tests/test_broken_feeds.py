"""A broken feed gives a precise error (file, line, column, reason) and changes nothing."""

import pytest
from django.core.management import CommandError, call_command

from schedule_engine import selectors
from schedule_engine.gtfs_import.errors import FeedInvalid, FeedProblem
from schedule_engine.models import Feed, StopTime, Trip
from schedule_engine.services import feed_import
from schedule_engine.testing import TINY_FEED, import_feed, write_feed

pytestmark = pytest.mark.django_db


def _without(name):
    files = dict(TINY_FEED)
    del files[name]
    return files


def _replace(name, old, new):
    assert old in TINY_FEED[name]
    return dict(TINY_FEED, **{name: TINY_FEED[name].replace(old, new, 1)})


BROKEN = {
    "missing required file": (
        _without("stop_times.txt"),
        FeedProblem("stop_times.txt", None, None, "required file is missing"),
    ),
    "missing required column": (
        _replace("stops.txt", "stop_id,", "id,"),
        FeedProblem("stops.txt", 1, "stop_id", "required column is missing"),
    ),
    "stop time with unknown stop": (
        _replace("stop_times.txt", "T1,08:05:00,08:05:30,S3,3", "T1,08:05:00,08:05:30,S9,3"),
        FeedProblem("stop_times.txt", 4, "stop_id", "unknown stop 'S9'"),
    ),
    "bad time": (
        _replace("stop_times.txt", "25:03:00", "25:61:00"),
        FeedProblem(
            "stop_times.txt",
            8,
            "arrival_time",
            "invalid time '25:61:00': minutes 61 out of range 0..59",
        ),
    ),
    "bad coordinates": (
        _replace("stops.txt", "S3,Third,40.7072", "S3,Third,140.7072"),
        FeedProblem("stops.txt", 5, "stop_lat", "latitude '140.7072' out of range -90..90"),
    ),
    "missing coordinates": (
        _replace("stops.txt", "S3,Third,40.7072,-74.0000", "S3,Third,,"),
        FeedProblem("stops.txt", 5, "stop_lat", "required value is empty"),
    ),
    "duplicate stop_id": (
        _replace("stops.txt", "S4,Fourth", "S3,Fourth"),
        FeedProblem("stops.txt", 6, "stop_id", "duplicate key stop_id 'S3'"),
    ),
    "duplicate stop_sequence in a trip": (
        _replace("stop_times.txt", "T1,08:10:00,08:10:00,S4,4", "T1,08:10:00,08:10:00,S4,3"),
        FeedProblem(
            "stop_times.txt",
            5,
            "stop_sequence",
            "duplicate key (trip_id, stop_sequence) ('T1', 3), first at line 4",
        ),
    ),
    "trip with unknown route": (
        _replace("trips.txt", "R1,WK,LATE", "R2,WK,LATE"),
        FeedProblem("trips.txt", 3, "route_id", "unknown route 'R2'"),
    ),
    "trip with unknown shape": (
        _replace("trips.txt", "R1,WK,T1,0,SH1", "R1,WK,T1,0,SH9"),
        FeedProblem("trips.txt", 2, "shape_id", "unknown shape 'SH9'"),
    ),
    "unknown time zone": (
        _replace("agency.txt", "America/New_York", "Mars/Olympus"),
        FeedProblem("agency.txt", 2, "agency_timezone", "unknown time zone 'Mars/Olympus'"),
    ),
}


@pytest.fixture
def current(tmp_path) -> Feed:
    return import_feed(write_feed(tmp_path / "good", TINY_FEED), name="good")


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_feed_is_refused_precisely_and_the_current_feed_stays(case, current, tmp_path):
    files, expected = BROKEN[case]
    # A different route name, so the broken feed is not the current feed's content.
    files = dict(files, **{"routes.txt": files["routes.txt"].replace("Main", "Broken")})
    with pytest.raises(FeedInvalid) as refused:
        feed_import(path=write_feed(tmp_path / "broken", files), activate=True)
    assert expected in refused.value.problems, refused.value.problems
    assert list(Feed.objects.all()) == [current]
    assert selectors.current_feed_get() == current
    assert Trip.objects.count() == 4 and StopTime.objects.count() == 14


def test_command_prints_each_error_and_exits_nonzero(current, tmp_path, capsys):
    files, _ = BROKEN["bad time"]
    with pytest.raises(CommandError, match="nothing imported, the current feed is unchanged"):
        call_command("import_gtfs", str(write_feed(tmp_path / "broken", files)), "--activate")
    assert (
        "error: stop_times.txt:8: column arrival_time: invalid time '25:61:00': "
        "minutes 61 out of range 0..59"
    ) in capsys.readouterr().err
    assert selectors.current_feed_get() == current


def test_not_a_feed_is_refused(tmp_path, current):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(FeedInvalid, match="not a zip file or folder"):
        feed_import(path=junk)
    with pytest.raises(FeedInvalid, match="no such file or folder"):
        feed_import(path=tmp_path / "absent.zip")
