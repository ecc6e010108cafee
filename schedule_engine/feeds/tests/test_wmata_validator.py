"""Feeds built from a slice of the real WMATA trace pass the MobilityData rules with no ERROR.

The slice (the first 10 minutes of the trace) goes through the same pure matcher,
predictor and builders the pipeline uses, timestamps shifted to now, and the
``gtfs-rt-validator`` CLI checks both feeds against ``wmata/gtfs.zip``.
"""

import time
from pathlib import Path

from benchmarks.progression import feed_entities_at, runs_of
from benchmarks.wmata_schedule import read_schedule
from realtime_engine.replay.trace import read_trace
from schedule_engine.feeds.builders import build_trip_updates, build_vehicle_positions
from tests.support.gtfs_rt_validator import error_notices, validator_report


def test_feeds_from_the_wmata_trace_have_no_validator_errors(fixtures_dir: Path, tmp_path: Path):
    wmata = fixtures_dir / "wmata"
    pings = read_trace(wmata / "avl.csv")
    start = min(p.timestamp for p in pings)
    window = [p for p in pings if p.timestamp < start + 600]
    runs = runs_of(window)
    schedule = read_schedule(wmata / "gtfs.zip", {run.trip_id for run in runs})
    shift = int(time.time()) - (start + 600)
    vehicles, trips = feed_entities_at(schedule, runs, at=start + 600, shift_s=shift)
    assert len(vehicles) >= 20 and len(trips) >= 20
    now = int(time.time())
    (tmp_path / "vp.pb").write_bytes(build_vehicle_positions(vehicles, now=now).SerializeToString())
    (tmp_path / "tu.pb").write_bytes(build_trip_updates(trips, now=now).SerializeToString())
    report = validator_report(
        wmata / "gtfs.zip", tmp_path / "out", vp=tmp_path / "vp.pb", tu=tmp_path / "tu.pb"
    )
    assert error_notices(report) == []
