"""Telemetry conditions shared by the detectors and the lifecycle guards.

One function per fact (moving, stale, expired, terminal reached) so that the detector
that proposes an event and the guard that admits it can never disagree on a number.
"""

from __future__ import annotations

from dataclasses import dataclass

from runs.domain.detection.thresholds import Thresholds
from runs.domain.geometry import TripGeometry


@dataclass(frozen=True, slots=True)
class PositionFix:
    """The latest position of a vehicle, as the detectors need it (POSIX seconds, m/s)."""

    vehicle_id: str
    latitude: float
    longitude: float
    timestamp: float
    speed: float | None = None


def is_moving(fix: PositionFix | None, thresholds: Thresholds) -> bool:
    return fix is not None and fix.speed is not None and fix.speed > thresholds.moving_speed_mps


def is_fresh(last_seen: float | None, now: float, thresholds: Thresholds) -> bool:
    return last_seen is not None and now - last_seen <= thresholds.stale_after_s


def is_stale(last_seen: float | None, now: float, thresholds: Thresholds) -> bool:
    return last_seen is None or now - last_seen > thresholds.stale_after_s


def has_expired(last_seen: float | None, now: float, thresholds: Thresholds) -> bool:
    return last_seen is None or now - last_seen > thresholds.expire_after_s


def terminal_reached(
    geometry: TripGeometry | None, fix: PositionFix | None, thresholds: Thresholds
) -> bool:
    """The position lies on the trip's shape within the zone of its terminal stop.

    The position is projected onto the trip geometry (only the last stretch of the
    shape is searched, so an out-and-back trip passing near its terminal early does
    not count); a stop id reported by the vehicle plays no part.
    """
    if geometry is None or fix is None or not geometry.stop_distances_m:
        return False
    zone = thresholds.terminal_zone_m
    terminal_m = geometry.stop_distances_m[-1]
    location = geometry.locate(fix.latitude, fix.longitude, from_m=max(terminal_m - zone, 0.0))
    return location.offset_m <= zone and location.distance_m >= terminal_m - zone
