"""The demo network pinned to its service hours, whatever the hour ``make demo`` runs."""

from __future__ import annotations

import csv
import datetime as dt
import zoneinfo

import pytest

from schedule_engine.demo_network import AGENCY_TIMEZONE, DEMO_NETWORK_DIR
from schedule_engine.demo_network.clock import (
    PINNED_HOUR,
    demo_network_copy,
    demo_timezone,
    zone_at_local_hour,
)

UTC = dt.UTC


def local_hour(now: dt.datetime, zone: str) -> int:
    return now.astimezone(zoneinfo.ZoneInfo(zone)).hour


@pytest.mark.parametrize("utc_hour", range(24))
@pytest.mark.parametrize("wanted", [0, 7, 8, 23])
def test_a_pinned_zone_has_the_wanted_local_hour_now(utc_hour, wanted):
    now = dt.datetime(2026, 11, 22, utc_hour, 41, tzinfo=UTC)
    zone = zone_at_local_hour(now, wanted)
    assert local_hour(now, zone) == wanted
    assert zoneinfo.ZoneInfo(zone)  # a real IANA zone, which the importer accepts


def test_the_agency_keeps_its_own_zone_while_its_buses_run():
    # 11:00 in Alderport (PST, UTC-8).
    assert demo_timezone(dt.datetime(2026, 11, 22, 19, 0, tzinfo=UTC)) == AGENCY_TIMEZONE
    # 21:59 there: still in service.
    assert demo_timezone(dt.datetime(2026, 11, 23, 5, 59, tzinfo=UTC)) == AGENCY_TIMEZONE


@pytest.mark.parametrize("utc", ["2026-11-22T06:30", "2026-11-22T10:00", "2026-11-22T13:59"])
def test_at_night_there_the_network_is_pinned_to_its_morning(utc):
    now = dt.datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert local_hour(now, AGENCY_TIMEZONE) not in range(6, 22)
    zone = demo_timezone(now)
    assert zone != AGENCY_TIMEZONE
    assert local_hour(now, zone) == PINNED_HOUR


def test_the_copy_changes_the_agency_zone_and_nothing_else(tmp_path):
    folder = demo_network_copy(tmp_path / "gtfs", "Etc/GMT-3")
    with (
        (folder / "agency.txt").open(newline="") as copied,
        (DEMO_NETWORK_DIR / "agency.txt").open(newline="") as original,
    ):
        copied_rows, original_rows = list(csv.DictReader(copied)), list(csv.DictReader(original))
    assert [row["agency_timezone"] for row in copied_rows] == ["Etc/GMT-3"]
    assert [{**row, "agency_timezone": ""} for row in copied_rows] == [
        {**row, "agency_timezone": ""} for row in original_rows
    ]
    for path in DEMO_NETWORK_DIR.iterdir():
        if path.name != "agency.txt":
            assert (folder / path.name).read_bytes() == path.read_bytes()
    # Writing again replaces the earlier copy.
    demo_network_copy(folder, AGENCY_TIMEZONE)
    assert AGENCY_TIMEZONE in (folder / "agency.txt").read_text()
