"""Map-matching one position of a run onto its trip: ``match_position``.

Pure: (trip geometry, previous ``MatchState``, ``Fix``, ``ProgressionConfig``) →
``MatchStep`` (new state, published ``Progress``, completed ``StopCall``s). Called
by the progression producer for every position of a run, so the common path is a
windowed search of a few dozen segments and a handful of small objects.

How a fix is placed:
- PRE_TRIP (layover, deadhead): until the scheduled start (minus an early-departure
  allowance) the vehicle is not matched at all. After it, a run seen before departs
  from its first stop's zone (moving, beyond the zone and the GPS noise), or is
  found driving along the shape after the scheduled start, or is driving the shape
  forwards farther from its first stop than it could have come since the allowance
  began (it left before); a bus parked on the route beyond its first stop is laying
  over. The first fix of a run (a vehicle appearing mid-trip) takes the earliest leg
  of the shape its heading agrees with.
- ON_ROUTE: the nearest point in a window that starts at most ``backward_tolerance_m``
  behind the furthest matched distance and reaches as far ahead as the bus can
  have driven since the last fix (first a window sized from the observed speed,
  then, if that finds nothing on the shape, one sized from ``max_speed_mps``). So a
  loop or an out-and-back street matches the leg the bus is on, and progress
  never moves back by more than GPS noise.
- Farther than ``off_route_m`` from the shape in both windows: off-route; the
  progress is held, not advanced (a GPS jump costs nothing).
- Stop zones: a fix within ``stopped_radius_m`` of a stop is at it; the stop is left
  only beyond the zone plus a margin proportional to the run's GPS noise (estimated
  from how its offset off the shape varies), and a standing bus's fixes are averaged.
- Driving against the shape near the start of the trip (a terminal loop to the
  layover and back) returns the run to PRE_TRIP; its first stops are then
  recorded again when it really departs (the durable table upserts by stop).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace

from runs.domain.geometry import Location, Polyline, TripGeometry, locations_within
from runs.domain.progression.config import ProgressionConfig
from runs.domain.progression.state import MatchState
from runs.domain.progression.status import Phase
from runs.domain.progression.stop_events import EventSource, StopCall
from runs.domain.telemetry.vehicle_stop_status import StopStatusCode

# Averaging a standing bus's fixes stops here: later fixes still move it a little.
MAX_STILL_FIXES = 20
# Weight of each new fix in the run's GPS-noise estimate (about the last ten fixes).
NOISE_WEIGHT = 0.1


@dataclass(frozen=True, slots=True)
class Fix:
    """One position of the run's vehicle."""

    timestamp: float  # POSIX seconds
    latitude: float
    longitude: float
    speed_mps: float | None = None
    bearing_deg: float | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """What is published for the run after a fix (``run:{rid}:vehicle_stop_status``).

    ``stop_index`` indexes the geometry's stops: the stop the vehicle is at
    (STOPPED_AT) or the next one (INCOMING_AT, IN_TRANSIT_TO).
    """

    phase: Phase
    distance_m: float
    off_route: bool
    stop_index: int
    stop_sequence: int
    stop_id: str
    status: StopStatusCode


@dataclass(frozen=True, slots=True)
class MatchStep:
    state: MatchState
    progress: Progress
    events: tuple[StopCall, ...] = ()


def match_position(
    geometry: TripGeometry, state: MatchState, fix: Fix, config: ProgressionConfig
) -> MatchStep:
    """Place ``fix`` on the trip; a fix not newer than the last one used changes nothing."""
    if state.matched_at and fix.timestamp <= state.matched_at:
        return MatchStep(state, progress_of(geometry, state, fix.speed_mps, config))
    if state.phase is Phase.PRE_TRIP:
        return _match_pre_trip(geometry, state, fix, config)
    return _match_on_route(geometry, state, fix, config)


def progress_of(
    geometry: TripGeometry, state: MatchState, speed_mps: float | None, config: ProgressionConfig
) -> Progress:
    """The published progress for a state (pre-trip: STOPPED_AT the first stop, as WMATA does)."""
    if state.phase is Phase.PRE_TRIP:
        index, status = 0, StopStatusCode.STOPPED_AT
    else:
        index, status = _stop_status(geometry, state.distance_m, speed_mps, state, config)
    return Progress(
        state.phase,
        state.distance_m,
        state.off_route,
        index,
        geometry.stop_sequences[index],
        geometry.stop_ids[index],
        status,
    )


def _stop_status(
    geometry: TripGeometry,
    distance_m: float,
    speed_mps: float | None,
    state: MatchState,
    config: ProgressionConfig,
) -> tuple[int, StopStatusCode]:
    first = state.events_through + 1
    stops = geometry.stop_distances_m
    slow = (
        config.stopped_max_speed_mps is None
        or speed_mps is None
        or speed_mps <= config.stopped_max_speed_mps
    )
    if slow:
        if state.zone_index >= first:  # inside a stop's zone (``_advance`` decides which)
            return state.zone_index, StopStatusCode.STOPPED_AT
        left = state.events_through
        if left >= 0 and abs(distance_m - stops[left]) <= config.stopped_radius_m:
            # Back inside the zone of the stop just left: GPS noise made it look gone.
            # Shown at that stop again (its event stands); any stop before it never is.
            return left, StopStatusCode.STOPPED_AT
    following = max(bisect_right(stops, distance_m), first)
    if following >= len(stops):
        return len(stops) - 1, StopStatusCode.STOPPED_AT  # at or past the terminal
    if stops[following] - distance_m <= config.incoming_radius_m:
        return following, StopStatusCode.INCOMING_AT
    return following, StopStatusCode.IN_TRANSIT_TO


def _heading_deg(geometry: TripGeometry, segment: int) -> float:
    line = geometry.polyline
    dx = line.xs[segment + 1] - line.xs[segment]
    dy = line.ys[segment + 1] - line.ys[segment]
    return math.degrees(math.atan2(dx, dy)) % 360.0


def _heading_difference(
    geometry: TripGeometry, segment: int, fix: Fix, config: ProgressionConfig
) -> float | None:
    """Degrees between the fix's bearing and the shape's; None when the bus is not moving."""
    if not _has_heading(fix, config):
        return None
    return abs((fix.bearing_deg - _heading_deg(geometry, segment) + 180.0) % 360.0 - 180.0)


def _has_heading(fix: Fix, config: ProgressionConfig) -> bool:
    """The fix has a bearing worth comparing: a parked bus's bearing says nothing."""
    return (
        fix.bearing_deg is not None
        and fix.speed_mps is not None
        and fix.speed_mps >= config.reverse_min_speed_mps
    )


def _against_shape(
    geometry: TripGeometry, segment: int, fix: Fix, config: ProgressionConfig
) -> bool:
    """The vehicle is clearly driving the shape backwards."""
    difference = _heading_difference(geometry, segment, fix, config)
    return difference is not None and difference > config.reverse_heading_deg


def _along_shape(geometry: TripGeometry, segment: int, fix: Fix, config: ProgressionConfig) -> bool:
    """The vehicle is clearly driving the shape forwards."""
    difference = _heading_difference(geometry, segment, fix, config)
    return difference is not None and difference < 180.0 - config.reverse_heading_deg


def _reach_m(state: MatchState, fix: Fix, speed_mps: float, config: ProgressionConfig) -> float:
    return speed_mps * (fix.timestamp - state.matched_at) + config.window_margin_m


def _match_pre_trip(
    geometry: TripGeometry, state: MatchState, fix: Fix, config: ProgressionConfig
) -> MatchStep:
    first_stop_m = geometry.stop_distances_m[0]
    zone_end = first_stop_m + config.stopped_radius_m
    gate = state.scheduled_start - config.early_departure_s
    if fix.timestamp < gate:
        waiting = replace(state, matched_at=fix.timestamp, off_route=False)
        return MatchStep(waiting, progress_of(geometry, waiting, fix.speed_mps, config))
    x, y = geometry.projection.to_xy(fix.latitude, fix.longitude)
    if state.matched_at:
        # Seen before the trip: it departs from its first stop, or (no fix caught it
        # there) is found driving along the shape after the scheduled start. A bus
        # parked on the route beyond its first stop is laying over, not departed.
        reach = zone_end + _reach_m(state, fix, config.max_speed_mps, config)
        found = geometry.polyline.locate(x, y, from_m=0.0, to_m=reach)
        departing = (
            state.zone_index == 0
            or found.distance_m <= zone_end
            or (
                fix.timestamp >= state.scheduled_start
                and _along_shape(geometry, found.segment, fix, config)
            )
        )
        # Farther along than it could have driven since the early-departure gate opened,
        # and driving the route forwards: it left before the gate (its fixes were not
        # matched then). Nearer, it may be repositioning to a layover on the route.
        left_before_gate = zone_end + config.max_speed_mps * (fix.timestamp - gate)
        candidates = (
            [found]
            if departing
            else [
                location
                for location in _driving_forwards(geometry, x, y, fix, config)
                if location.distance_m > left_before_gate
            ]
        )
    else:
        # First fix of the run: on the shape, but before the scheduled start a bus
        # standing there is laying over (WMATA reports it at its first stop too).
        candidates = locations_within(geometry.polyline, x, y, config.off_route_m)
        if fix.timestamp < state.scheduled_start:
            candidates = [
                c
                for c in candidates
                if c.distance_m <= zone_end or _along_shape(geometry, c.segment, fix, config)
            ]
    for location in candidates:  # in shape order: the earliest plausible leg wins
        if location.offset_m > config.off_route_m:
            continue
        if _against_shape(geometry, location.segment, fix, config):
            continue
        side = _signed_offset(geometry.polyline, location, x, y)
        return _start_on_route(geometry, state, fix, location.distance_m, side, config)
    waiting = replace(state, matched_at=fix.timestamp, off_route=False)
    return MatchStep(waiting, progress_of(geometry, waiting, fix.speed_mps, config))


def _driving_forwards(
    geometry: TripGeometry, x: float, y: float, fix: Fix, config: ProgressionConfig
) -> list[Location]:
    """The places on the shape where the vehicle is clearly driving it forwards."""
    if not _has_heading(fix, config):
        return []  # skip the search along the whole shape
    return [
        location
        for location in locations_within(geometry.polyline, x, y, config.off_route_m)
        if _along_shape(geometry, location.segment, fix, config)
    ]


def _start_on_route(
    geometry: TripGeometry,
    state: MatchState,
    fix: Fix,
    distance_m: float,
    offset_m: float,  # signed
    config: ProgressionConfig,
) -> MatchStep:
    stops = geometry.stop_distances_m
    radius = config.stopped_radius_m
    noise_m2 = _noise_estimate(state, offset_m)
    at_first_stop = distance_m <= stops[0] + radius
    if state.zone_index == 0:
        # Waiting at the first stop: it departs moving, beyond the zone and the noise.
        at_first_stop = distance_m <= stops[0] + radius + _departure_margin(noise_m2, config)
        if fix.speed_mps is not None and fix.speed_mps < config.still_speed_mps:
            at_first_stop = True
    if at_first_stop:
        # At the first stop: still before departure; remember the time for its event.
        entered = state.zone_entered_at if state.zone_index == 0 else fix.timestamp
        waiting = replace(
            state,
            matched_at=fix.timestamp,
            off_route=False,
            zone_index=0,
            zone_entered_at=entered,
            zone_last_at=fix.timestamp,
            noise_m2=noise_m2,
            offset_m=offset_m,
        )
        return MatchStep(waiting, progress_of(geometry, waiting, fix.speed_mps, config))
    if state.zone_index == 0:
        # Departed the first stop we saw it at: interpolate from there.
        origin = replace(
            state,
            phase=Phase.ON_ROUTE,
            distance_m=stops[0],
            max_distance_m=stops[0],
            matched_at=state.zone_last_at,
        )
    else:
        # Appeared mid-trip (or never seen at the first stop): no events for stops behind it.
        behind = bisect_left(stops, distance_m - radius) - 1
        origin = replace(
            state,
            phase=Phase.ON_ROUTE,
            distance_m=distance_m,
            max_distance_m=distance_m,
            matched_at=fix.timestamp,
            zone_index=-1,
            events_through=behind,
        )
    return _advance(geometry, origin, fix, distance_m, config)


def _locate_within(line: Polyline, x: float, y: float, start: float, end: float) -> Location:
    """``Polyline.locate`` clamped to the window (its window is whole segments, some long)."""
    location = line.locate(x, y, from_m=start, to_m=end)
    if start <= location.distance_m <= end:
        return location
    clamped = start if location.distance_m < start else end
    px, py = line.point_at(clamped)
    return Location(clamped, math.hypot(x - px, y - py), location.segment)


def _match_on_route(
    geometry: TripGeometry, state: MatchState, fix: Fix, config: ProgressionConfig
) -> MatchStep:
    x, y = geometry.projection.to_xy(fix.latitude, fix.longitude)
    line = geometry.polyline
    start = state.max_distance_m - config.backward_tolerance_m
    observed = max(fix.speed_mps or 0.0, state.speed_mps)
    narrow = state.max_distance_m + _reach_m(state, fix, 1.5 * observed + 5.0, config)
    location = _locate_within(line, x, y, start, narrow)
    if location.offset_m > config.off_route_m or location.distance_m >= narrow:
        # Nothing on the shape, or pinned to the window's end: it drove farther than expected.
        wide = state.max_distance_m + _reach_m(state, fix, config.max_speed_mps, config)
        if wide > narrow:
            location = _locate_within(line, x, y, start, wide)
    off_route = location.offset_m > config.off_route_m
    near_start = state.max_distance_m < geometry.stop_distances_m[0] + config.layover_reach_m
    if near_start and (off_route or _against_shape(geometry, location.segment, fix, config)):
        behind = line.locate(x, y, from_m=0.0, to_m=state.max_distance_m)
        if behind.offset_m <= config.off_route_m and _against_shape(
            geometry, behind.segment, fix, config
        ):
            back = MatchState(scheduled_start=state.scheduled_start, matched_at=fix.timestamp)
            return MatchStep(back, progress_of(geometry, back, fix.speed_mps, config))
    if off_route:
        held = replace(state, off_route=True) if not state.off_route else state
        return MatchStep(held, progress_of(geometry, held, fix.speed_mps, config))
    distance_m, still_count = location.distance_m, 0
    if fix.speed_mps is not None and fix.speed_mps < config.still_speed_mps:
        still_count = 1
        if state.still_count and abs(distance_m - state.distance_m) <= config.still_radius_m:
            # Standing still: average the fixes (GPS noise) instead of following each one.
            still_count = min(state.still_count, MAX_STILL_FIXES) + 1
            distance_m = state.distance_m + (distance_m - state.distance_m) / still_count
    side = _signed_offset(line, location, x, y)
    return _advance(
        geometry, state, fix, distance_m, config, still_count, _noise_estimate(state, side), side
    )


def _signed_offset(line: Polyline, location: Location, x: float, y: float) -> float:
    """The fix's distance off the shape, positive left of the direction of travel."""
    i = location.segment
    dx, dy = line.xs[i + 1] - line.xs[i], line.ys[i + 1] - line.ys[i]
    left = dx * (y - line.ys[i]) - dy * (x - line.xs[i]) >= 0.0
    return location.offset_m if left else -location.offset_m


def _noise_estimate(state: MatchState, offset_m: float) -> float:
    """The run's GPS noise variance (m²), from how much its signed offset varies.

    Differences of consecutive offsets, not the offsets: a shape drawn a few metres
    beside the street offsets every fix alike and is no noise. (A difference of two
    independent errors has twice their variance, hence the half.)
    """
    if not state.matched_at:
        return state.noise_m2
    change = offset_m - state.offset_m
    return state.noise_m2 + NOISE_WEIGHT * (change * change / 2.0 - state.noise_m2)


def _departure_margin(noise_m2: float, config: ProgressionConfig) -> float:
    excess = noise_m2 - config.noise_floor_m * config.noise_floor_m
    return config.departure_margin_m + (
        config.departure_noise_factor * math.sqrt(excess) if excess > 0.0 else 0.0
    )


def _advance(
    geometry: TripGeometry,
    state: MatchState,
    fix: Fix,
    distance_m: float,
    config: ProgressionConfig,
    still_count: int = 0,
    noise_m2: float | None = None,
    offset_m: float | None = None,
) -> MatchStep:
    """Move an on-route state to ``distance_m`` at ``fix`` and collect the stops completed."""
    stops = geometry.stop_distances_m
    last = len(stops) - 1
    d0, t0 = state.distance_m, state.matched_at
    t1 = fix.timestamp
    zone_index, entered, seen = state.zone_index, state.zone_entered_at, state.zone_last_at
    noise_m2 = state.noise_m2 if noise_m2 is None else noise_m2
    margin = _departure_margin(noise_m2, config)
    index = state.events_through + 1
    events: list[StopCall] = []
    while index <= last:
        stop_m = stops[index]
        # The terminal's zone may be wider: a run completes within the detector's zone.
        zone_m = config.zone_radius_m(index, last)
        if distance_m < stop_m - zone_m:
            break
        exit_m = stop_m + zone_m + (margin if zone_index == index else 0.0)
        in_zone = distance_m <= exit_m
        closer_next = (
            index < last
            and distance_m >= stops[index + 1] - config.zone_radius_m(index + 1, last)
            and abs(stops[index + 1] - distance_m) < abs(stop_m - distance_m)
        )
        if in_zone and not closer_next:
            if zone_index != index:
                zone_index, entered = index, t1
            seen = t1
            if index == last:  # the terminal has no departure: record the arrival now
                events.append(
                    StopCall(
                        geometry.stop_sequences[index],
                        geometry.stop_ids[index],
                        entered,
                        None,
                        EventSource.OBSERVED,
                    )
                )
                index += 1
            break
        if zone_index == index:
            event = StopCall(
                geometry.stop_sequences[index],
                geometry.stop_ids[index],
                entered,
                seen,
                EventSource.OBSERVED,
            )
        else:
            span = distance_m - d0
            share = (stop_m - d0) / span if span > 0 else 1.0
            at = t0 + (t1 - t0) * (0.0 if share < 0.0 else 1.0 if share > 1.0 else share)
            event = StopCall(
                geometry.stop_sequences[index],
                geometry.stop_ids[index],
                at,
                None if index == last else at,
                EventSource.INTERPOLATED,
            )
        events.append(event)
        zone_index = -1
        index += 1
    elapsed = t1 - t0
    speed = fix.speed_mps
    if speed is None:
        speed = (distance_m - d0) / elapsed if elapsed > 0 else state.speed_mps
    new_state = MatchState(
        scheduled_start=state.scheduled_start,
        phase=Phase.ON_ROUTE,
        distance_m=distance_m,
        max_distance_m=max(distance_m, state.max_distance_m),
        matched_at=t1,
        speed_mps=max(speed, 0.0),
        off_route=False,
        zone_index=zone_index,
        zone_entered_at=entered,
        zone_last_at=seen,
        events_through=index - 1,
        noise_m2=noise_m2,
        offset_m=state.offset_m if offset_m is None else offset_m,
        still_count=still_count,
    )
    return MatchStep(
        new_state, progress_of(geometry, new_state, fix.speed_mps, config), tuple(events)
    )
