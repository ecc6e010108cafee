"""The demo network at any hour: a copy whose agency clock is in its service day.

Alderport Transit runs on Pacific time from about 05:00 to after midnight. Someone
running ``make demo`` at 10:00 in Europe finds it 01:00 there: no trip is due, the
simulator's buses have nothing scheduled to follow and the feeds hold no predictions.
``demo_timezone`` keeps the agency's own zone while it is inside ``SERVICE_HOURS``
and otherwise names a fixed-offset zone (``Etc/GMT…``) in which it is
``PINNED_HOUR`` now; ``demo_network_copy`` writes the network with that zone. Times in
the GTFS-RT feeds are POSIX seconds and stay true; only the local clock the schedule
is read in moves. Tests use the same pinning to see one schedule whatever the hour.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import zoneinfo
from pathlib import Path

from schedule_engine.demo_network import AGENCY_TIMEZONE, DEMO_NETWORK_DIR

# Local hours [start, end) in which every service day has buses out.
SERVICE_HOURS = (6, 22)
# Outside them, the local hour the network is pinned to: the weekday morning peak.
PINNED_HOUR = 8
# Fixed-offset zones exist from UTC-12 (Etc/GMT+12) to UTC+14 (Etc/GMT-14).
_OFFSETS = range(-12, 15)


def zone_at_local_hour(now: dt.datetime, hour: int) -> str:
    """A fixed-offset time zone in which the local hour is ``hour`` at ``now`` (aware)."""
    offset = (hour - now.astimezone(dt.UTC).hour) % 24
    if offset not in _OFFSETS:
        offset -= 24
    # POSIX signs are inverted: Etc/GMT-5 is UTC+5.
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def demo_timezone(now: dt.datetime) -> str:
    """The agency's zone while it is in service there, else one pinned to ``PINNED_HOUR``."""
    local_hour = now.astimezone(zoneinfo.ZoneInfo(AGENCY_TIMEZONE)).hour
    if SERVICE_HOURS[0] <= local_hour < SERVICE_HOURS[1]:
        return AGENCY_TIMEZONE
    return zone_at_local_hour(now, PINNED_HOUR)


def demo_network_copy(folder: Path, timezone: str) -> Path:
    """Write the demo network into ``folder`` with ``timezone`` as its agency's zone."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(DEMO_NETWORK_DIR, folder)
    agency = folder / "agency.txt"
    with agency.open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        row["agency_timezone"] = timezone
    with agency.open("w", newline="", encoding="utf-8") as target:
        writer = csv.DictWriter(target, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return folder
