"""Blocks: the trip a vehicle runs next on a service day, and which instances are headway-based."""

import datetime as dt
import time

import pytest
from django.db import OperationalError

from databus.db_health import RETRY_AFTER_S
from schedule_engine import blocks
from schedule_engine.predictions.block_propagation import BlockStopTime
from schedule_engine.testing import TINY_FEED, import_feed, write_feed

MONDAY, TUESDAY, SATURDAY = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 7)


def _stops(trip_id: str, start: str, minutes: tuple[int, ...] = (0, 3, 6, 10)) -> str:
    hours, mins = (int(p) for p in start.split(":"))
    rows = []
    for sequence, offset in enumerate(minutes, start=1):
        total = hours * 60 + mins + offset
        time = f"{total // 60:02d}:{total % 60:02d}:00"
        rows.append(f"{trip_id},{time},{time},S{sequence},{sequence}\n")
    return "".join(rows)


# Block BK: EARLY 05:00-05:10, (FREQ, frequency-based, left out), T1 08:00-08:10, the
# Saturday-only SAT 08:12, B2 08:16-08:26 (its service WX is removed on Tuesday 3 March),
# B3 09:00-09:10. MIXED runs exact times from 12:00 and headways from 13:00.
BLOCK_FEED = {
    **TINY_FEED,
    "calendar.txt": TINY_FEED["calendar.txt"]
    + "WX,1,1,1,1,1,0,0,20260101,20261231\nSA,0,0,0,0,0,1,0,20260101,20261231\n",
    "calendar_dates.txt": TINY_FEED["calendar_dates.txt"] + "WX,20260303,2\n",
    "trips.txt": (
        "route_id,service_id,trip_id,direction_id,shape_id,block_id\n"
        "R1,WK,T1,0,SH1,BK\n"
        "R1,WK,LATE,0,SH1,\n"
        "R1,WK,FREQ,0,SH1,BK\n"
        "R1,WK,HEADWAY,0,SH1,\n"
        "R1,WK,EARLY,0,SH1,BK\n"
        "R1,SA,SAT,0,SH1,BK\n"
        "R1,WX,B2,1,SH1,BK\n"
        "R1,WK,B3,0,SH1,BK\n"
        "R1,WK,MIXED,0,SH1,\n"
    ),
    "stop_times.txt": TINY_FEED["stop_times.txt"]
    + _stops("EARLY", "05:00")
    + _stops("SAT", "08:12")
    + _stops("B2", "08:16")
    + _stops("B3", "09:00")
    + _stops("MIXED", "12:00"),
    "frequencies.txt": TINY_FEED["frequencies.txt"]
    + "MIXED,12:00:00,13:00:00,1200,1\nMIXED,13:00:00,14:00:00,1200,0\n",
}


@pytest.fixture(autouse=True)
def _fresh_indexes():
    blocks.clear()
    yield
    blocks.clear()


@pytest.fixture
def feed(tmp_path):
    return import_feed(write_feed(tmp_path / "blocks", BLOCK_FEED))


@pytest.mark.django_db
def test_next_trip_of_the_block_with_its_layover_and_stop_times(feed):
    nxt = blocks.next_trip_in_block("T1", MONDAY, feed_id=feed.pk)
    assert nxt is not None
    assert (nxt.trip_id, nxt.route_id, nxt.direction_id, nxt.block_id) == ("B2", "R1", 1, "BK")
    assert (nxt.service_date, nxt.start_time) == (MONDAY, "08:16:00")
    assert nxt.first_departure_s == 8 * 3600 + 16 * 60
    assert nxt.previous_last_arrival_s == 8 * 3600 + 10 * 60  # T1 reaches S4 at 08:10
    assert nxt.layover_s == 360
    assert nxt.stop_times == (
        BlockStopTime(1, "S1", 29_760, 29_760),
        BlockStopTime(2, "S2", 29_940, 29_940),
        BlockStopTime(3, "S3", 30_120, 30_120),
        BlockStopTime(4, "S4", 30_360, 30_360),
    )
    assert blocks.next_trip_in_block("B2", MONDAY, feed_id=feed.pk).trip_id == "B3"


@pytest.mark.django_db
def test_only_trips_whose_service_runs_that_day_follow(feed):
    # SAT (08:12) is not a weekday trip; on Tuesday 3 March B2's service is removed.
    assert blocks.next_trip_in_block("T1", TUESDAY, feed_id=feed.pk).trip_id == "B3"
    assert blocks.next_trip_in_block("T1", TUESDAY, feed_id=feed.pk).layover_s == 3000
    # T1 itself does not run on a Saturday: it has no next trip then.
    assert blocks.next_trip_in_block("T1", SATURDAY, feed_id=feed.pk) is None
    assert blocks.next_trip_in_block("SAT", SATURDAY, feed_id=feed.pk) is None


@pytest.mark.django_db
def test_last_trip_unblocked_unknown_and_frequency_trips_have_no_next_trip(feed):
    # EARLY's next trip is T1: the frequency-based FREQ (06:00) is left out of the block.
    assert blocks.next_trip_in_block("EARLY", MONDAY, feed_id=feed.pk).trip_id == "T1"
    for trip_id in ("B3", "LATE", "FREQ", "NOPE"):
        assert blocks.next_trip_in_block(trip_id, MONDAY, feed_id=feed.pk) is None


@pytest.mark.django_db
def test_a_warm_call_reads_nothing_and_a_batch_reads_stop_times_once(
    feed, django_assert_max_num_queries, django_assert_num_queries
):
    pairs = [("EARLY", MONDAY), ("T1", MONDAY), ("B2", MONDAY), ("B3", MONDAY), ("T1", TUESDAY)]
    # The block index, the Feed row, the services of two dates (two queries each) and
    # the next trips' stop times (trips, stop times) once for the whole batch.
    with django_assert_max_num_queries(8):
        found = blocks.next_trips_in_block(pairs, feed_id=feed.pk)
    assert {pair: nxt.trip_id for pair, nxt in found.items()} == {
        ("EARLY", MONDAY): "T1",
        ("T1", MONDAY): "B2",
        ("B2", MONDAY): "B3",
        ("T1", TUESDAY): "B3",
    }
    with django_assert_num_queries(0):
        again = blocks.next_trips_in_block(pairs, feed_id=feed.pk)
        for trip_id, date in pairs:
            blocks.next_trip_in_block(trip_id, date, feed_id=feed.pk)
    assert again == found


@pytest.mark.django_db
def test_another_version_has_its_own_blocks(feed, tmp_path):
    assert blocks.next_trip_in_block("T1", MONDAY).trip_id == "B2"  # the current version
    rebuilt = {
        **BLOCK_FEED,
        "trips.txt": BLOCK_FEED["trips.txt"].replace("R1,WX,B2,1,SH1,BK", "R1,WX,B2,1,SH1,OTHER"),
    }
    newer = import_feed(write_feed(tmp_path / "newer", rebuilt))
    assert blocks.next_trip_in_block("T1", MONDAY, feed_id=newer.pk).trip_id == "B3"
    assert blocks.next_trip_in_block("T1", MONDAY).trip_id == "B3"
    # The older version still answers for itself.
    assert blocks.next_trip_in_block("T1", MONDAY, feed_id=feed.pk).trip_id == "B2"


@pytest.mark.django_db
def test_headway_based_instances_are_those_of_exact_times_0_windows(feed):
    assert blocks.headway_based("HEADWAY", "10:30:00", feed_id=feed.pk)
    assert blocks.headway_based("HEADWAY", None, feed_id=feed.pk)
    assert not blocks.headway_based("FREQ", "06:20:00", feed_id=feed.pk)
    assert not blocks.headway_based("T1", "08:00:00", feed_id=feed.pk)
    assert not blocks.headway_based("NOPE", "08:00:00", feed_id=feed.pk)
    # A trip with both kinds of window: the window holding the start time decides.
    assert not blocks.headway_based("MIXED", "12:20:00", feed_id=feed.pk)
    assert blocks.headway_based("MIXED", "13:20:00", feed_id=feed.pk)
    assert not blocks.headway_based("MIXED", "bad", feed_id=feed.pk)


@pytest.mark.django_db
def test_while_the_database_cannot_be_read_what_is_held_serves_and_reads_pause(feed, monkeypatch):
    assert blocks.headway_based("HEADWAY", "10:30:00", feed_id=feed.pk)  # the index, held
    attempts = []

    def unreadable(*args, **kwargs):
        attempts.append(args)
        raise OperationalError("server closed the connection unexpectedly")

    readable = blocks.selectors.scheduled_trips_get
    monkeypatch.setattr(blocks.selectors, "scheduled_trips_get", unreadable)
    # Nothing propagated (not an error in the feed build), and no retry on the next call.
    assert blocks.next_trip_in_block("T1", MONDAY, feed_id=feed.pk) is None
    assert blocks.next_trip_in_block("T1", MONDAY, feed_id=feed.pk) is None
    assert len(attempts) == 1
    assert blocks.headway_based("HEADWAY", "10:30:00", feed_id=feed.pk)
    # Readable again, and the pause over: the next call reads.
    monkeypatch.setattr(blocks.selectors, "scheduled_trips_get", readable)
    later = time.monotonic() + RETRY_AFTER_S + 1
    monkeypatch.setattr(blocks.time, "monotonic", lambda: later)
    assert blocks.next_trip_in_block("T1", MONDAY, feed_id=feed.pk).trip_id == "B2"
