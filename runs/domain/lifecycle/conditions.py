"""Telemetry conditions shared by the detectors and the lifecycle guards.

One function per fact (moving, stale, expired, terminal reached) so that the detector
that proposes an event and the guard that admits it can never disagree on a number.
"""

from __future__ import annotations

from runs.domain.geometry import TripGeometry
from runs.domain.lifecycle.thresholds import Thresholds
from runs.domain.telemetry.position import Position


def is_moving(fix: Position | None, thresholds: Thresholds) -> bool:
    return fix is not None and fix.speed is not None and fix.speed > thresholds.moving_speed_mps


def is_fresh(last_seen: float | None, now: float, thresholds: Thresholds) -> bool:
    return last_seen is not None and now - last_seen <= thresholds.stale_after_s


def is_stale(last_seen: float | None, now: float, thresholds: Thresholds) -> bool:
    return last_seen is None or now - last_seen > thresholds.stale_after_s


def has_expired(last_seen: float | None, now: float, thresholds: Thresholds) -> bool:
    return last_seen is None or now - last_seen > thresholds.expire_after_s


def terminal_reached(
    geometry: TripGeometry | None,
    fix: Position | None,
    thresholds: Thresholds,
    progressed_m: float | None,
) -> bool:
    """The run has travelled its trip to the terminal stop's zone, and the position is there.

    ``progressed_m`` is the furthest distance along the trip the map-matcher has
    followed the vehicle to (it only moves forward along the trip). Position alone
    cannot tell the two ends of a loop trip apart — a bus waiting at the first stop
    stands where the trip ends — so the matched progress decides; the position is
    also projected onto the last stretch of the shape so that a stale progress
    value cannot complete a run whose vehicle is elsewhere. A stop id reported by
    the vehicle plays no part.
    """
    if geometry is None or fix is None or progressed_m is None or not geometry.stop_distances_m:
        return False
    zone = thresholds.terminal_zone_m
    terminal_m = geometry.stop_distances_m[-1]
    if progressed_m < terminal_m - zone:
        return False
    location = geometry.locate(fix.latitude, fix.longitude, from_m=max(terminal_m - zone, 0.0))
    return location.offset_m <= zone and location.distance_m >= terminal_m - zone
