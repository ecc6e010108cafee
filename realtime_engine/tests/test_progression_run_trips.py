"""A run's prepared trip follows the current GTFS version (``progression.run_trips``)."""

from __future__ import annotations

import re

from realtime_engine import trip_schedules
from realtime_engine.progression import run_trips
from realtime_engine.tests.test_progression_observer import SERVICE_DATE, hhmmss, line_feed
from schedule_engine.testing import import_feed, write_feed


def test_a_new_feed_version_replaces_the_prepared_trip(tmp_path, db):
    import_feed(write_feed(tmp_path / "v1", line_feed()), name="v1")
    trip_schedules.clear()
    run_trips.clear()
    start_date = SERVICE_DATE.strftime("%Y%m%d")
    first = run_trips.trip_to_match("LT", start_date, None)
    assert run_trips.trip_to_match("LT", start_date, None) is first  # prepared once

    later = line_feed()  # the same trip ten minutes later in the next version
    later["stop_times.txt"] = re.sub(
        r"(\d\d):(\d\d):(\d\d)",
        lambda m: hhmmss(int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) + 600),
        later["stop_times.txt"],
    )
    import_feed(write_feed(tmp_path / "v2", later), name="v2")
    second = run_trips.trip_to_match("LT", start_date, None)
    assert second is not first
    assert second.scheduled_start == first.scheduled_start + 600
    assert [s.departure - f.departure for s, f in zip(second.stops, first.stops, strict=True)] == [
        600
    ] * len(first.stops)
