"""Map-matching thresholds and stop-zone conventions, as one frozen value.

Agencies disagree on what "at a stop" means, so the zone radii are settings:
``DEFAULT`` follows DESIGN.md (STOPPED_AT within 20 m and slow, INCOMING_AT
within 50 m), ``WMATA`` the convention measured on its trace (a ±50 m STOPPED_AT
zone entered while still moving). The defaults here are the only spelling of each:
``backend.settings`` reads the overrides (``PROGRESSION_*``) with them as defaults, and
``runs.services.thresholds`` builds the producer's config from the settings; tests and
the benchmark pass one explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProgressionConfig:
    # A stop zone: |distance along the trip - the stop's distance| within this radius.
    stopped_radius_m: float = 20.0
    # The trip's last stop is reached this far before it (None: ``stopped_radius_m``). The
    # producer sets it to at least the completion detector's terminal zone, so the run
    # that completes there has recorded its arrival at the terminal first.
    terminal_radius_m: float | None = None
    # STOPPED_AT also needs speed at most this (m/s); None: any speed inside the zone counts.
    stopped_max_speed_mps: float | None = 1.0
    # A stop whose zone the vehicle entered counts as left only this far past the zone
    # (a noisy fix just beyond the zone's end does not make the bus leave its stop).
    departure_margin_m: float = 0.0
    # ...plus this many times the run's GPS noise, estimated from how far its fixes
    # fall off the shape (clean fixes: no margin; noisy ones: a margin that keeps a
    # bus standing in the zone from "leaving" on every outlier).
    departure_noise_factor: float = 0.5
    # Noise up to this (m) is the ordinary jitter of a good receiver: no margin for it.
    noise_floor_m: float = 5.0
    # Slower than this (m/s) on consecutive fixes: the bus has not moved, so its
    # fixes within ``still_radius_m`` of each other are averaged rather than followed.
    still_speed_mps: float = 0.5
    still_radius_m: float = 60.0
    # INCOMING_AT: the next stop is at most this far ahead along the trip.
    incoming_radius_m: float = 50.0
    # Farther than this from the shape: off-route (the progress is held, not advanced).
    off_route_m: float = 60.0
    # How far back along the shape a fix may be matched (GPS noise); never further.
    backward_tolerance_m: float = 30.0
    # The plausible forward window: a bus covers at most this speed between two fixes...
    max_speed_mps: float = 30.0
    # ...plus this margin (the first window tried is narrower, from the observed speeds).
    window_margin_m: float = 80.0
    # A pre-trip vehicle may leave its first stop this long before the scheduled start.
    early_departure_s: int = 300
    # A fix driving against the shape this close to the start undoes a departure
    # (a terminal loop: the bus drove part of the route to its layover and comes back).
    layover_reach_m: float = 1500.0
    # Against the shape: heading differs from the shape's by more than this (degrees),
    # while moving faster than this (m/s; a parked bus's bearing is meaningless).
    reverse_heading_deg: float = 120.0
    reverse_min_speed_mps: float = 2.0

    def zone_radius_m(self, index: int, last: int) -> float:
        """The radius of stop ``index``'s zone for recording its event (``last``: the terminal)."""
        if index == last and self.terminal_radius_m is not None:
            return max(self.stopped_radius_m, self.terminal_radius_m)
        return self.stopped_radius_m


DEFAULT = ProgressionConfig()
WMATA = ProgressionConfig(stopped_radius_m=50.0, stopped_max_speed_mps=None, incoming_radius_m=50.0)
