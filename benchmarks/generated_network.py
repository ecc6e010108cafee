"""A generated GTFS network with one trip per vehicle, every trip under way now, for benchmarks.

The benchmarks of the tracked path (``bench-pipeline``, ``bench-tracked``) need N vehicles,
each on its own run In Progress, driving along its trip as a bus does. The bundled
networks cannot give that: the demo has a handful of trips under way at any time, WMATA's
depend on the hour. This module makes a network of the size asked for:

- ``network_generate(vehicles, at=...)`` (pure): a grid of straight routes 600 m apart,
  alternately east-west and north-south, each with a shape point every 50 m and its own
  stops ``STOP_SPACING_M`` apart on each side of the street (one set per direction).
  Vehicle ``i`` gets trip ``i``: ``trips_per_route`` trips per route, directions
  alternating, scheduled so that at ``at`` each is between ``progress[0]`` and
  ``progress[1]`` of the way along (a deterministic spread), driving at ``SPEED_MPS``
  between stops and dwelling ``DWELL_S`` at each. The agency's zone is a fixed-offset one
  in which it is ``LOCAL_HOUR`` at ``at`` (``zone_at_local_hour``), so no trip crosses
  midnight whatever the hour; service runs every day around that date.
- ``gtfs_zip_write(network, path)`` (pure I/O): the GTFS zip.
- ``network_import(network, folder)`` (Django): the zip through the real importer
  (``schedule_engine.testing.import_feed``: ``feed_import``, activated).
- ``runs_start(network, processes=2)`` (Django, Redis): each vehicle registered, its run
  created and confirmed through the lifecycle service (``run_create``, ``run_event_apply``)
  as the replay does, its first fix written to hot state in the contract's layout, then
  ``run_tracking_started`` and ``run_started`` applied as the detectors would (same
  service, system actor). Returns the run id of each vehicle. About 50 ms of CPU per run:
  2,000 runs take one to two minutes here. ``processes=1`` stays in the caller's process
  (and its test transaction).
- ``vehicle_fix(trip, t)`` (pure): where the vehicle of ``trip`` is at POSIX time ``t`` —
  latitude, longitude, bearing, speed, odometer — on its schedule, as a
  ``realtime_engine.simulation.publishing.Fix`` (``position_payload`` makes the MQTT
  payload of it).

Imports the standard library and pure modules at import time; Django-bound helpers import
what they need when called.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import zipfile
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from realtime_engine.simulation.publishing import Fix
from runs.domain.geometry import LocalProjection
from schedule_engine.demo_network.clock import zone_at_local_hour

PROJECTION = LocalProjection(45.500, -122.700)  # metres east and north of the grid's corner
LINE_SPACING_M = 600.0  # between parallel routes
STOP_SPACING_M = 400.0
STOP_OFFSET_M = 8.0  # stops stand on the kerb to the right of the direction of travel
SHAPE_STEP_M = 50.0
SPEED_MPS = 8.0  # between stops; a leg of 400 m is 50 s
DWELL_S = 15
STOPS_PER_TRIP = 30  # 29 legs: 11.6 km, 29 min of driving plus 7 min of dwells
TRIPS_PER_ROUTE = 40
LOCAL_HOUR = 12  # the agency's local hour at ``at``: trips are all on one service day
PROGRESS = (0.30, 0.50)  # how far along its trip each vehicle is at ``at``
SERVICE_DAYS_AROUND = 7  # calendar validity either side of the service date
AGENCY_ID = "GEN"
VEHICLE_PREFIX = "GEN-"
GOLDEN = (math.sqrt(5) - 1) / 2  # a low-discrepancy spread of progress over the trips


@dataclass(frozen=True, slots=True)
class GeneratedTrip:
    """One vehicle's trip: a straight line from ``origin_xy`` along ``unit``, in metres."""

    index: int
    vehicle_id: str
    trip_id: str
    route_id: str
    shape_id: str
    direction_id: int
    origin_xy: tuple[float, float]
    unit: tuple[float, float]  # direction of travel, unit vector (east, north)
    start_epoch: int  # departure from the first stop, POSIX seconds
    start_local_s: int  # the same, seconds after local midnight of the service date
    stops: int
    leg_s: int
    dwell_s: int

    @property
    def length_m(self) -> float:
        return (self.stops - 1) * STOP_SPACING_M

    @property
    def duration_s(self) -> int:
        """Departure from the first stop to arrival at the terminal."""
        return (self.stops - 1) * self.leg_s + (self.stops - 2) * self.dwell_s

    @property
    def end_epoch(self) -> int:
        return self.start_epoch + self.duration_s

    def arrival_s(self, k: int) -> int:
        """Arrival at stop ``k`` (0-based), seconds after departure from the first."""
        return k * self.leg_s + max(k - 1, 0) * self.dwell_s

    def departure_s(self, k: int) -> int:
        return self.arrival_s(k) + (self.dwell_s if 0 < k < self.stops - 1 else 0)


@dataclass(frozen=True, slots=True)
class GeneratedNetwork:
    trips: tuple[GeneratedTrip, ...]
    timezone: str
    service_date: dt.date
    at: float  # the time the trips were placed around

    @property
    def vehicle_ids(self) -> list[str]:
        return [trip.vehicle_id for trip in self.trips]

    def trip_of(self, vehicle_id: str) -> GeneratedTrip:
        return self.trips[int(vehicle_id.removeprefix(VEHICLE_PREFIX))]


def vehicle_id(index: int) -> str:
    return f"{VEHICLE_PREFIX}{index:05d}"


def _route_line(route: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Origin and unit vector of route ``route``'s direction 0: a grid of crossing lines."""
    offset = (route // 2) * LINE_SPACING_M
    if route % 2 == 0:
        return (0.0, offset), (1.0, 0.0)  # east-west avenue, driven eastwards
    return (offset, 0.0), (0.0, 1.0)  # north-south street, driven northwards


def network_generate(
    vehicles: int,
    *,
    at: float,
    stops_per_trip: int = STOPS_PER_TRIP,
    trips_per_route: int = TRIPS_PER_ROUTE,
    progress: tuple[float, float] = PROGRESS,
) -> GeneratedNetwork:
    """The network for ``vehicles`` vehicles, trip ``i`` for vehicle ``i``, placed around ``at``."""
    if vehicles < 1 or stops_per_trip < 2 or not 0.0 <= progress[0] <= progress[1] < 1.0:
        raise ValueError("need vehicles ≥ 1, stops_per_trip ≥ 2 and 0 ≤ progress < 1")
    now = dt.datetime.fromtimestamp(at, dt.UTC)
    timezone = zone_at_local_hour(now, LOCAL_HOUR)
    local = now.astimezone(zoneinfo.ZoneInfo(timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    leg_s = round(STOP_SPACING_M / SPEED_MPS)
    trips = []
    for index in range(vehicles):
        route, slot = divmod(index, trips_per_route)
        direction = slot % 2
        origin, unit = _route_line(route)
        if direction == 1:  # the other way along the same street
            length = (stops_per_trip - 1) * STOP_SPACING_M
            origin = (origin[0] + unit[0] * length, origin[1] + unit[1] * length)
            unit = (-unit[0], -unit[1])
        duration = (stops_per_trip - 1) * leg_s + (stops_per_trip - 2) * DWELL_S
        fraction = progress[0] + (progress[1] - progress[0]) * ((index * GOLDEN) % 1.0)
        start_epoch = round(at - fraction * duration)
        trips.append(
            GeneratedTrip(
                index=index,
                vehicle_id=vehicle_id(index),
                trip_id=f"GT{index:05d}",
                route_id=f"GR{route:03d}",
                shape_id=f"GR{route:03d}-{direction}",
                direction_id=direction,
                origin_xy=origin,
                unit=unit,
                start_epoch=start_epoch,
                start_local_s=start_epoch - round(midnight.timestamp()),
                stops=stops_per_trip,
                leg_s=leg_s,
                dwell_s=DWELL_S,
            )
        )
    return GeneratedNetwork(
        trips=tuple(trips),
        timezone=timezone,
        service_date=local.date(),
        at=at,
    )


# ----- where a vehicle is --------------------------------------------------------------------


def distance_at(trip: GeneratedTrip, t: float) -> tuple[float, float]:
    """(metres along the trip, speed m/s) at POSIX time ``t``, on schedule: parked at the first
    stop before departure, at the terminal after arrival."""
    elapsed = t - trip.start_epoch
    if elapsed <= 0:
        return 0.0, 0.0
    if elapsed >= trip.duration_s:
        return trip.length_m, 0.0
    cycle = trip.leg_s + trip.dwell_s  # one leg driven, then the doors open at its stop
    leg, into = divmod(elapsed, cycle)
    if into >= trip.leg_s:  # dwelling at stop leg + 1
        return (leg + 1) * STOP_SPACING_M, 0.0
    return leg * STOP_SPACING_M + into * STOP_SPACING_M / trip.leg_s, STOP_SPACING_M / trip.leg_s


def _point(trip: GeneratedTrip, distance_m: float, side_m: float = 0.0) -> tuple[float, float]:
    """Latitude, longitude at ``distance_m`` along the trip, ``side_m`` to its right."""
    ux, uy = trip.unit
    x = trip.origin_xy[0] + ux * distance_m + uy * side_m
    y = trip.origin_xy[1] + uy * distance_m - ux * side_m
    return PROJECTION.to_latlon(x, y)


def bearing_of(trip: GeneratedTrip) -> float:
    """Degrees clockwise from north of the direction of travel."""
    return math.degrees(math.atan2(trip.unit[0], trip.unit[1])) % 360.0


def vehicle_fix(trip: GeneratedTrip, t: float) -> Fix:
    """The fix the vehicle of ``trip`` reports at POSIX time ``t`` (whole seconds, rounded as
    a tracker rounds): on the shape's centre line, on schedule."""
    distance, speed = distance_at(trip, t)
    lat, lon = _point(trip, distance)
    return Fix(
        latitude=round(lat, 7),
        longitude=round(lon, 7),
        timestamp=int(t),
        bearing=round(bearing_of(trip), 1),
        speed_mps=round(speed, 2),
        odometer_m=round(distance),
    )


def latest_moving_fix(trip: GeneratedTrip, t: float) -> Fix:
    """The fix at the last second at or before ``t`` that the vehicle was driving (a dwell
    lasts ``dwell_s``): the first fix of a run, which must show it moving to start it."""
    second = int(t)
    while distance_at(trip, second)[1] == 0.0 and second > trip.start_epoch:
        second -= 1
    return vehicle_fix(trip, second)


# ----- GTFS ----------------------------------------------------------------------------------


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _csv(header: Sequence[str], rows: Iterator[Sequence] | list) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def stop_id(trip: GeneratedTrip, k: int) -> str:
    """Stop ``k`` of the trip's route and direction (shared by the trips of that direction)."""
    return f"{trip.shape_id}-S{k:02d}"


def gtfs_files(network: GeneratedNetwork) -> dict[str, str]:
    """The network's GTFS files, name → text."""
    first_of_shape: dict[str, GeneratedTrip] = {}
    for trip in network.trips:
        first_of_shape.setdefault(trip.shape_id, trip)
    stops, shapes = [], []
    for shape_id, trip in first_of_shape.items():
        for k in range(trip.stops):
            lat, lon = _point(trip, k * STOP_SPACING_M, STOP_OFFSET_M)
            stops.append((stop_id(trip, k), f"{shape_id} stop {k + 1}", f"{lat:.6f}", f"{lon:.6f}"))
        steps = round(trip.length_m / SHAPE_STEP_M)
        for n in range(steps + 1):
            lat, lon = _point(trip, trip.length_m * n / steps)
            shapes.append((shape_id, f"{lat:.6f}", f"{lon:.6f}", n + 1))
    routes = sorted({trip.route_id for trip in network.trips})
    first = network.service_date - dt.timedelta(days=SERVICE_DAYS_AROUND)
    last = network.service_date + dt.timedelta(days=SERVICE_DAYS_AROUND)
    stop_times = (
        (
            trip.trip_id,
            _hms(trip.start_local_s + trip.arrival_s(k)),
            _hms(trip.start_local_s + trip.departure_s(k)),
            stop_id(trip, k),
            k + 1,
        )
        for trip in network.trips
        for k in range(trip.stops)
    )
    return {
        "agency.txt": _csv(
            ("agency_id", "agency_name", "agency_url", "agency_timezone"),
            [(AGENCY_ID, "Generated Transit", "https://example.org/generated", network.timezone)],
        ),
        "stops.txt": _csv(("stop_id", "stop_name", "stop_lat", "stop_lon"), stops),
        "routes.txt": _csv(
            ("route_id", "agency_id", "route_short_name", "route_long_name", "route_type"),
            [(r, AGENCY_ID, r.removeprefix("GR"), f"Generated line {r}", 3) for r in routes],
        ),
        "calendar.txt": _csv(
            (
                "service_id",
                *("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
                "start_date",
                "end_date",
            ),
            [("ALL", *[1] * 7, first.strftime("%Y%m%d"), last.strftime("%Y%m%d"))],
        ),
        "shapes.txt": _csv(
            ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"), shapes
        ),
        "trips.txt": _csv(
            ("route_id", "service_id", "trip_id", "direction_id", "shape_id"),
            [(t.route_id, "ALL", t.trip_id, t.direction_id, t.shape_id) for t in network.trips],
        ),
        "stop_times.txt": _csv(
            ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"), stop_times
        ),
    }


def gtfs_zip_write(network: GeneratedNetwork, path: Path) -> Path:
    """Write the network as a GTFS zip at ``path``; return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in gtfs_files(network).items():
            archive.writestr(name, text)
    return path


# ----- into the system (Django set up) -------------------------------------------------------


def network_import(network: GeneratedNetwork, folder: Path):
    """Write the zip into ``folder`` and import it with the real importer, activated; the Feed."""
    from schedule_engine.testing import import_feed

    return import_feed(gtfs_zip_write(network, folder / "generated.zip"), name="generated")


def runs_start(
    network: GeneratedNetwork, *, processes: int = 2, trips: Sequence[GeneratedTrip] | None = None
) -> dict[str, str]:
    """Bring every vehicle's run In Progress through the lifecycle service; run id by vehicle.

    Each run takes five lifecycle events of a few database round trips each (about 50 ms on a
    loaded 2-core machine): ``processes`` forked children share the trips, so that one's
    waits overlap another's work. Just before its run is created, each vehicle's first fix
    (the last moment it was driving) is written to hot state in the position contract's
    layout, decoded from its MQTT payload as ingest decodes it, so the telemetry guards of
    ``run_tracking_started`` and ``run_started`` see it fresh and moving.
    """
    import multiprocessing

    from django.db import connections

    from tests.support.vehicles import register_vehicles

    register_vehicles(network.vehicle_ids)
    chosen = list(network.trips if trips is None else trips)
    if processes <= 1:  # in this process and its transaction (tests)
        return _runs_start_share(network.service_date, chosen)
    shares = [chosen[k::processes] for k in range(processes)]
    connections.close_all()  # a forked child must open its own connection
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.starmap(_runs_start_child, [(network.service_date, s) for s in shares])
    return {vehicle: run for share in results for vehicle, run in share.items()}


def _runs_start_child(service_date: dt.date, trips: list[GeneratedTrip]) -> dict[str, str]:
    from django.db import connections

    try:
        return _runs_start_share(service_date, trips)
    finally:
        connections.close_all()


def _runs_start_share(service_date: dt.date, trips: list[GeneratedTrip]) -> dict[str, str]:
    import time

    from databus import keys
    from databus.redis import get_redis
    from realtime_engine.simulation.messages import position_payload
    from runs.domain.lifecycle.events import RunEvent
    from runs.domain.telemetry import position as position_contract
    from runs.models import Vehicle
    from runs.services.actors import SYSTEM
    from runs.services.lifecycle import run_create, run_event_apply

    client = get_redis()
    vehicles = Vehicle.objects.in_bulk([trip.vehicle_id for trip in trips])
    run_ids = {}
    for trip in trips:
        now = time.time()
        payload = position_payload(latest_moving_fix(trip, now))
        decoded = position_contract.decode(payload, vehicle_id=trip.vehicle_id, received_at=now)
        client.hset(
            keys.vehicle_position(trip.vehicle_id),
            mapping=position_contract.validate_for_write(decoded),
        )
        outcome = run_create(
            actor=SYSTEM,
            vehicle=vehicles[trip.vehicle_id],
            trip_id=trip.trip_id,
            start_date=service_date,
        )
        if outcome.refused is not None:
            raise RuntimeError(f"run of {trip.trip_id} refused: {outcome.refused.decision}")
        for event in (
            RunEvent.RUN_CONFIRMED_BY_OPERATOR,
            RunEvent.RUN_TRACKING_STARTED,
            RunEvent.RUN_STARTED,
        ):
            applied = run_event_apply(run_id=outcome.run.pk, event=event, actor=SYSTEM)
            if not applied.decision.accepted:
                raise RuntimeError(f"{event} of {trip.trip_id} refused: {applied.decision}")
        run_ids[trip.vehicle_id] = str(outcome.run.pk)
    return run_ids
