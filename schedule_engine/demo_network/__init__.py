"""The demo network (Alderport Transit): GTFS files in `demo/gtfs/`, imported by `make demo`.

`DEMO_NETWORK_DIR` is that folder (pass it to `manage.py import_gtfs`);
`generate.py` here is how its files were written; `clock.py` gives a copy that runs
at whatever hour it is imported.
"""

from pathlib import Path

DEMO_NETWORK_DIR = Path(__file__).resolve().parents[2] / "demo" / "gtfs"
AGENCY_TIMEZONE = "America/Los_Angeles"
