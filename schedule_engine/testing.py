"""Helpers for tests that need a schedule in the test database (any app's tests).

    from schedule_engine.testing import TINY_FEED, import_feed, write_feed

    feed = import_feed(write_feed(tmp_path, TINY_FEED))      # a folder, current
    feed = import_feed(fixtures_dir / "wmata" / "gtfs.zip")  # a zip

`TINY_FEED` is a one-route feed (America/New_York, weekday service from
2026-01-01 to 2026-12-31 except Presidents' Day 2026-02-16) with a straight
1.2 km shape along four stops, trip `T1` at 08:00, trip `LATE` across midnight
(24:50:00 → 25:10:00), trip `FREQ` run every 20 min from 06:00 to 07:00 with
exact times, and `HEADWAY` every 30 min from 10:00 to 11:00 (not exact). Copy
and edit the dict to make variants (a broken feed, another route).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from schedule_engine import geometry_cache
from schedule_engine.models import Feed
from schedule_engine.services import feed_import

TINY_FEED: dict[str, str] = {
    "agency.txt": (
        "agency_id,agency_name,agency_url,agency_timezone\n"
        "TA,Tiny Agency,https://tiny-agency.org,America/New_York\n"
    ),
    "stops.txt": (
        "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
        "ST,Tiny Station,40.7000,-74.0000,1,\n"
        "S1,First,40.7000,-74.0000,0,ST\n"
        "S2,Second,40.7036,-74.0000,0,\n"
        "S3,Third,40.7072,-74.0000,0,\n"
        "S4,Fourth,40.7108,-74.0000,0,\n"
    ),
    "routes.txt": (
        "route_id,agency_id,route_short_name,route_long_name,route_type\nR1,TA,1,Main Street,3\n"
    ),
    "calendar.txt": (
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "WK,1,1,1,1,1,0,0,20260101,20261231\n"
    ),
    "calendar_dates.txt": "service_id,date,exception_type\nWK,20260216,2\n",
    "shapes.txt": (
        "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\n"
        "SH1,40.7000,-74.0001,1\n"
        "SH1,40.7054,-74.0001,2\n"
        "SH1,40.7108,-74.0001,3\n"
    ),
    "trips.txt": (
        "route_id,service_id,trip_id,direction_id,shape_id\n"
        "R1,WK,T1,0,SH1\n"
        "R1,WK,LATE,0,SH1\n"
        "R1,WK,FREQ,0,SH1\n"
        "R1,WK,HEADWAY,0,SH1\n"
    ),
    "stop_times.txt": (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,08:00:00,08:00:00,S1,1\n"
        "T1,,,S2,2\n"
        "T1,08:05:00,08:05:30,S3,3\n"
        "T1,08:10:00,08:10:00,S4,4\n"
        "LATE,24:50:00,24:50:00,S1,10\n"
        "LATE,24:57:00,24:57:00,S2,20\n"
        "LATE,25:03:00,25:03:00,S3,30\n"
        "LATE,25:10:00,25:10:00,S4,40\n"
        "FREQ,06:00:00,06:00:00,S1,1\n"
        "FREQ,06:04:00,06:04:00,S2,2\n"
        "FREQ,06:08:00,06:08:00,S3,3\n"
        "FREQ,06:12:00,06:12:00,S4,4\n"
        "HEADWAY,00:00:00,00:00:00,S1,1\n"
        "HEADWAY,00:15:00,00:15:00,S4,2\n"
    ),
    "frequencies.txt": (
        "trip_id,start_time,end_time,headway_secs,exact_times\n"
        "FREQ,06:00:00,07:00:00,1200,1\n"
        "HEADWAY,10:00:00,11:00:00,1800,0\n"
    ),
}


def write_feed(directory: Path, files: Mapping[str, str]) -> Path:
    """Write ``files`` (name → text) into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def import_feed(path: str | Path, *, activate: bool = True, name: str | None = None) -> Feed:
    """Import a feed folder or zip into the (test) database; current unless told otherwise."""
    result = feed_import(path=path, name=name, activate=activate)
    geometry_cache.invalidate()
    result.feed.refresh_from_db()
    return result.feed
