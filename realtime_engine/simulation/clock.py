"""Simulated time against wall time: what the simulator sends when. Pure.

The simulation ticks once per simulated second; at ``speedup`` k, k simulated seconds
pass per wall second. Message timestamps are the wall time of the tick (whole POSIX
seconds, never ahead of the real clock: the ingress contract refuses a clock more than
a minute ahead, and the detectors judge freshness against the server's clock), and
reported speeds are multiplied by k, so that distance over timestamp stays consistent
for the map-matcher (the same convention as the AVL replay's ``ReplayClock``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from runs.domain.telemetry.limits import SPEED_RANGE


@dataclass(frozen=True, slots=True)
class SimulationClock:
    wall_start: float  # POSIX seconds of simulated second 0
    speedup: float = 1.0

    def __post_init__(self) -> None:
        if not self.speedup > 0:
            raise ValueError(f"speed-up must be positive, not {self.speedup}")

    def wall_at(self, sim_s: float) -> float:
        return self.wall_start + sim_s / self.speedup

    def sim_at(self, wall: float) -> float:
        return (wall - self.wall_start) * self.speedup

    def timestamp_at(self, sim_s: float) -> int:
        """The message timestamp of simulated second ``sim_s`` (floored: never ahead)."""
        return math.floor(self.wall_at(sim_s))

    def reported_speed(self, speed_mps: float) -> float:
        """The speed a receiver sees (distance per timestamp second) for a simulated speed,
        capped at the ingress bound: above it the whole position would be dead-lettered, and
        the matcher only reads speeds near standstill."""
        return min(speed_mps * self.speedup, SPEED_RANGE[1])

    def sim_duration(self, wall_s: float) -> float:
        """How many simulated seconds last ``wall_s`` wall seconds."""
        return wall_s * self.speedup
