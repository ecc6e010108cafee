"""Run MobilityData's rules (the ``gtfs-rt-validator`` CLI of the virtualenv) over feed files.

The feeds' validator tests (VehiclePositions, TripUpdates, Alerts) share this one runner.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

VALIDATOR = Path(sys.executable).parent / "gtfs-rt-validator"


def validator_report(gtfs: Path, out: Path, **feeds: Path) -> dict:
    """The validator's report for the feed files given by role (``vp``, ``tu``, ``sa``),
    checked against the GTFS zip ``gtfs``; its files are written under ``out``."""
    roles = [arg for role, path in feeds.items() for arg in (f"-{role}", str(path))]
    subprocess.run(
        [str(VALIDATOR), "-gtfs", str(gtfs), *roles, "--out", str(out)],
        check=False,
        capture_output=True,
        timeout=240,
    )
    return json.loads((out / "report.json").read_text())


def error_notices(report: dict) -> list[dict]:
    """The notices of ERROR severity (what the feeds must never have)."""
    return [n for n in report["notices"] if n["severity"] == "ERROR"]
