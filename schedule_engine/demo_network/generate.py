"""Writes the demo network's GTFS files: `python -m schedule_engine.demo_network.generate`.

Alderport Transit is a fictional agency of a fictional town on the Oregon coast
plain (origin 44.600 N, 123.100 W, America/Los_Angeles). Its streets are a grid
of 200 m blocks: numbered avenues run east-west, tree-named streets north-south.
Five routes: 1 (north-south, with a jog), 2 (crosstown), 3 (a one-way loop), 10 (a
frequency-based shuttle, frequencies.txt with exact_times 1 on weekdays and 0 at
weekends) and 20 (the Downtown Circulator, a weekday loop around Central Station run
by headway only: exact_times 0, no timetable). Weekday, Saturday and Sunday service
from about 05:00 to after midnight, with two holidays in calendar_dates.txt. The
timetabled trips of routes 1, 2 and 3 are chained into blocks (trips.txt
``block_id``): one bus runs a block's trips in turn, turning at the terminal after
at least ``MIN_LAYOVER_S``, so a late bus's next trip can be predicted late.

The output (`demo/gtfs/*.txt` at the repository root, imported by `make demo`) is
committed; this script is how it was made and is deterministic. Imports only the
standard library and the pure projection of `runs.domain.geometry`.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

from runs.domain.geometry import LocalProjection
from schedule_engine.demo_network import AGENCY_TIMEZONE, DEMO_NETWORK_DIR
from schedule_engine.gtfs_import.tables import WEEKDAY_COLUMNS

PROJECTION = LocalProjection(44.600, -123.100)
BLOCK_M = 200.0
STOP_OFFSET_M = 8.0  # stops stand on the kerb, not on the centre line
SHAPE_STEP_M = 50.0
SPEED_M_S = 7.0
DWELL_S = 20
# A bus turns at its terminal after at least this long (recovery time and the driver's break),
# and returns to the garage rather than wait longer than MAX_LAYOVER_S (its block ends).
MIN_LAYOVER_S = 300
MAX_LAYOVER_S = 1800

STREETS = ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Hemlock", "Juniper", "Laurel"]
AVENUES = [
    f"{n}{'st' if n == 1 else 'nd' if n == 2 else 'rd' if n == 3 else 'th'} Ave"
    for n in range(1, 14)
]

# Headways per service: (from, to, minutes) as "HH:MM"; departures from `from` up to `to`.
HEADWAYS = {
    "WK": [
        ("05:00", "07:00", 20),
        ("07:00", "09:30", 10),
        ("09:30", "16:00", 15),
        ("16:00", "19:00", 10),
        ("19:00", "24:31", 20),
    ],
    "SA": [("06:00", "24:31", 30)],
    "SU": [("07:00", "24:01", 30)],
}

# Routes: corners of the path (grid x, y) and the grid points where it stops.
ROUTES = [
    {
        "route_id": "1",
        "short": "1",
        "long": "Harbor - Northgate",
        "color": "1B6AC9",
        "path": [(2, 0), (2, 7), (5, 7), (5, 12)],
        "stops": [(2, 0), (2, 2), (2, 4), (2, 6), (3, 7), (5, 7), (5, 9), (5, 11), (5, 12)],
        "both_ways": True,
        "headsigns": ("Northgate", "Harbor"),
    },
    {
        "route_id": "2",
        "short": "2",
        "long": "Westside - University",
        "color": "C62828",
        "path": [(0, 4), (8, 4), (8, 6)],
        "stops": [(0, 4), (2, 4), (4, 4), (6, 4), (8, 4), (8, 6)],
        "both_ways": True,
        "headsigns": ("University", "Westside"),
    },
    {
        "route_id": "3",
        "short": "3",
        "long": "Eastside Loop",
        "color": "2E7D32",
        "path": [(4, 4), (4, 2), (7, 2), (7, 9), (4, 9), (4, 4)],
        "stops": [(4, 4), (4, 2), (6, 2), (7, 3), (7, 5), (7, 7), (7, 9), (5, 9), (4, 7), (4, 4)],
        "both_ways": False,
        "headsigns": ("Eastside Loop",),
    },
    {
        "route_id": "10",
        "short": "10",
        "long": "Central Shuttle",
        "color": "6A1B9A",
        "path": [(0, 10), (6, 10), (6, 1)],
        "stops": [(0, 10), (2, 10), (4, 10), (6, 10), (6, 8), (6, 6), (6, 4), (6, 1)],
        "both_ways": True,
        "headsigns": ("Southport", "Westgate"),
        "frequency": True,
    },
    {
        "route_id": "20",
        "short": "20",
        "long": "Downtown Circulator",
        "color": "00838F",
        "path": [(2, 4), (4, 4), (4, 7), (2, 7), (2, 4)],
        "stops": [(2, 4), (3, 4), (4, 4), (4, 5), (4, 7), (3, 7), (2, 6), (2, 4)],
        "both_ways": False,
        "headsigns": ("Downtown Circulator",),
        # Weekdays only, by headway: (from, to, minutes), exact_times 0.
        "headway_only": [("06:30", "09:30", 8), ("09:30", "16:00", 12), ("16:00", "19:30", 8)],
    },
]
# Central Station: a station whose platforms are the stops at this grid point.
STATION_POINT = (2, 4)


def minutes(text: str) -> int:
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def latlon(x_m: float, y_m: float) -> tuple[float, float]:
    lat, lon = PROJECTION.to_latlon(x_m, y_m)
    return round(lat, 6), round(lon, 6)


def path_points(corners: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """The path in metres, a point every SHAPE_STEP_M along each straight street."""
    points = [(corners[0][0] * BLOCK_M, corners[0][1] * BLOCK_M)]
    for (x0, y0), (x1, y1) in itertools.pairwise(corners):
        length = math.hypot(x1 - x0, y1 - y0) * BLOCK_M
        steps = round(length / SHAPE_STEP_M)
        for k in range(1, steps + 1):
            t = k / steps
            points.append(((x0 + t * (x1 - x0)) * BLOCK_M, (y0 + t * (y1 - y0)) * BLOCK_M))
    return points


def distance_along(corners: list[tuple[int, int]], point: tuple[int, int], after: float) -> float:
    """Metres along the path to the first passage through ``point`` at or after ``after``."""
    travelled = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(corners):
        length = math.hypot(x1 - x0, y1 - y0) * BLOCK_M
        px, py = point
        on_x = x0 == x1 == px and min(y0, y1) <= py <= max(y0, y1)
        on_y = y0 == y1 == py and min(x0, x1) <= px <= max(x0, x1)
        if on_x or on_y:
            at = travelled + math.hypot(px - x0, py - y0) * BLOCK_M
            if at >= after - 1e-6:
                return at
        travelled += length
    raise ValueError(f"{point} is not on the path after {after} m")


def stop_id(point: tuple[int, int]) -> str:
    return f"AP{point[0]}{point[1]:02d}"


def stop_name(point: tuple[int, int]) -> str:
    return f"{STREETS[point[0]]} St & {AVENUES[point[1]]}"


def departures(service: str) -> list[int]:
    times = []
    for start, end, headway in HEADWAYS[service]:
        t = minutes(start)
        while t < minutes(end):
            times.append(t * 60)
            t += headway
    return times


@dataclass(frozen=True)
class Run:
    """A timetabled trip as a block sees it: when and where it starts and ends."""

    start_s: int
    end_s: int
    origin: tuple[int, int]
    terminus: tuple[int, int]
    row: list  # its trips.txt row, whose block_id is filled in


def blocks_assign(runs: list[Run]) -> list[int]:
    """A block number for each run (one route and service day): a bus at a run's origin,
    free at least ``MIN_LAYOVER_S`` and at most ``MAX_LAYOVER_S`` before it starts, takes
    it (the one that waited least, so layovers stay short); without one, a bus (a new
    block) pulls out of the garage. A bus that waited longer has gone back there."""
    free: list[tuple[int, tuple[int, int], int]] = []  # (free from, where, block)
    assigned: dict[int, int] = {}
    buses = 0
    for index in sorted(range(len(runs)), key=lambda i: (runs[i].start_s, runs[i].row[2])):
        run = runs[index]
        ready = [
            bus
            for bus in free
            if bus[1] == run.origin and MIN_LAYOVER_S <= run.start_s - bus[0] <= MAX_LAYOVER_S
        ]
        if ready:
            bus = max(ready)
            free.remove(bus)
            block = bus[2]
        else:
            buses += 1
            block = buses
        assigned[index] = block
        free.append((run.end_s, run.terminus, block))
    return [assigned[i] for i in range(len(runs))]


def write(name: str, header: list[str], rows: list[list]) -> None:
    with (DEMO_NETWORK_DIR / name).open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    stops: dict[tuple[int, int], list] = {}
    shapes, trips, stop_times, frequencies = [], [], [], []
    chains: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for route in ROUTES:
        for direction in range(2 if route["both_ways"] else 1):
            corners = route["path"] if direction == 0 else route["path"][::-1]
            route_stops = route["stops"] if direction == 0 else route["stops"][::-1]
            shape_id = f"R{route['route_id']}-{direction}"
            travelled = 0.0
            points = path_points(corners)
            for i, (x, y) in enumerate(points):
                if i:
                    travelled += math.hypot(x - points[i - 1][0], y - points[i - 1][1])
                shapes.append([shape_id, *latlon(x, y), i + 1])
            offsets, after = [], 0.0
            for point in route_stops:
                after = distance_along(corners, point, after)
                offsets.append(round(after / SPEED_M_S) + DWELL_S * len(offsets))
                if point not in stops:
                    lat, lon = latlon(
                        point[0] * BLOCK_M + STOP_OFFSET_M, point[1] * BLOCK_M + STOP_OFFSET_M
                    )
                    stops[point] = [stop_id(point), stop_name(point), lat, lon]
            services = ["WK"] if route.get("headway_only") else list(HEADWAYS)
            for service in services:
                frequency_based = route.get("frequency") or route.get("headway_only")
                if frequency_based:
                    trip_id = f"{route['route_id']}-{service}-{direction}-F"
                    if route.get("headway_only"):
                        windows, exact = route["headway_only"], 0
                    else:
                        # Every other bus of the timetabled routes' headways.
                        windows = [(a, b, h / 2) for a, b, h in HEADWAYS[service]]
                        exact = 1 if service == "WK" else 0
                    trip_starts = [minutes(windows[0][0]) * 60]
                    for start, end, headway in windows:
                        frequencies.append(
                            [
                                trip_id,
                                hms(minutes(start) * 60),
                                hms(minutes(end) * 60),
                                round(headway * 60),
                                exact,
                            ]
                        )
                else:
                    trip_starts = departures(service)
                for start in trip_starts:
                    if not frequency_based:
                        trip_id = f"{route['route_id']}-{service}-{direction}-{hms(start)[:5]}"
                    row = [
                        route["route_id"],
                        service,
                        trip_id,
                        route["headsigns"][direction],
                        direction,
                        shape_id,
                        "",  # block_id, given below to the timetabled trips
                    ]
                    trips.append(row)
                    if not frequency_based:
                        chains[(route["route_id"], service)].append(
                            Run(start, start + offsets[-1], route_stops[0], route_stops[-1], row)
                        )
                    for sequence, (point, offset) in enumerate(
                        zip(route_stops, offsets, strict=True), start=1
                    ):
                        arrival = start + offset
                        departure = arrival + (DWELL_S if 1 < sequence < len(route_stops) else 0)
                        stop_times.append(
                            [trip_id, hms(arrival), hms(departure), stops[point][0], sequence, 1]
                        )
    for (route_id, service), runs in chains.items():
        for run, block in zip(runs, blocks_assign(runs), strict=True):
            run.row[-1] = f"{route_id}-{service}-B{block:02d}"
    station_lat, station_lon = latlon(
        STATION_POINT[0] * BLOCK_M + 20, STATION_POINT[1] * BLOCK_M + 20
    )
    stop_rows = [["APCS", "Central Station", station_lat, station_lon, 1, "", 1]]
    for point, (sid, name, lat, lon) in sorted(stops.items(), key=lambda item: item[1][0]):
        parent = "APCS" if point == STATION_POINT else ""
        stop_rows.append([sid, name, lat, lon, 0, parent, 1])

    write(
        "agency.txt",
        [
            "agency_id",
            "agency_name",
            "agency_url",
            "agency_timezone",
            "agency_lang",
            "agency_phone",
        ],
        [
            [
                "AT",
                "Alderport Transit",
                "https://www.alderport-transit.org",
                AGENCY_TIMEZONE,
                "en",
                "541-555-0100",
            ]
        ],
    )
    write(
        "stops.txt",
        [
            "stop_id",
            "stop_name",
            "stop_lat",
            "stop_lon",
            "location_type",
            "parent_station",
            "wheelchair_boarding",
        ],
        stop_rows,
    )
    write(
        "routes.txt",
        [
            "route_id",
            "agency_id",
            "route_short_name",
            "route_long_name",
            "route_type",
            "route_color",
            "route_text_color",
        ],
        [[r["route_id"], "AT", r["short"], r["long"], 3, r["color"], "FFFFFF"] for r in ROUTES],
    )
    write(
        "trips.txt",
        [
            "route_id",
            "service_id",
            "trip_id",
            "trip_headsign",
            "direction_id",
            "shape_id",
            "block_id",
        ],
        trips,
    )
    write(
        "stop_times.txt",
        ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence", "timepoint"],
        stop_times,
    )
    write("shapes.txt", ["shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"], shapes)
    write(
        "frequencies.txt",
        ["trip_id", "start_time", "end_time", "headway_secs", "exact_times"],
        frequencies,
    )
    write(
        "calendar.txt",
        ["service_id", *WEEKDAY_COLUMNS, "start_date", "end_date"],
        [
            ["WK", 1, 1, 1, 1, 1, 0, 0, "20260101", "20271231"],
            ["SA", 0, 0, 0, 0, 0, 1, 0, "20260101", "20271231"],
            ["SU", 0, 0, 0, 0, 0, 0, 1, "20260101", "20271231"],
        ],
    )
    # Thanksgiving and Christmas Day run the Sunday service.
    write(
        "calendar_dates.txt",
        ["service_id", "date", "exception_type"],
        [
            ["WK", "20261126", 2],
            ["SU", "20261126", 1],
            ["WK", "20261225", 2],
            ["SU", "20261225", 1],
        ],
    )
    write(
        "feed_info.txt",
        [
            "feed_publisher_name",
            "feed_publisher_url",
            "feed_lang",
            "feed_start_date",
            "feed_end_date",
            "feed_version",
            "feed_contact_email",
        ],
        [
            [
                "Alderport Transit",
                "https://www.alderport-transit.org",
                "en",
                "20260101",
                "20271231",
                "2026.11",
                "gtfs@alderport-transit.org",
            ]
        ],
    )


if __name__ == "__main__":
    main()
