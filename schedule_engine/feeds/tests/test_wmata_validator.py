"""Feeds built from a slice of the real WMATA trace pass the MobilityData rules with no ERROR.

The slice (the first 10 minutes of the trace) goes through the same pure matcher,
predictor and builders the pipeline uses, timestamps shifted to now, and the
``gtfs-rt-validator`` CLI checks both feeds against ``wmata/gtfs.zip``.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.progression import feed_entities_at, runs_of
from benchmarks.wmata_schedule import read_schedule
from realtime_engine.replay.trace import read_trace
from schedule_engine.feeds.builders import build_trip_updates, build_vehicle_positions


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
    validator = Path(sys.executable).parent / "gtfs-rt-validator"
    subprocess.run(
        [
            str(validator),
            "-gtfs",
            str(wmata / "gtfs.zip"),
            "-vp",
            str(tmp_path / "vp.pb"),
            "-tu",
            str(tmp_path / "tu.pb"),
            "--out",
            str(tmp_path / "out"),
        ],
        check=False,
        capture_output=True,
        timeout=240,
    )
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    errors = [n for n in report["notices"] if n["severity"] == "ERROR"]
    assert errors == []
