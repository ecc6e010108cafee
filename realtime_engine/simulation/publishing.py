"""What the simulator and the AVL replay hand to an ingress, whichever it is. Pure.

``Fix`` is one position as a vehicle reports it and ``Load`` the passengers on board;
``FleetPublisher`` is the small interface the fleet simulator (``runner``) and the replay
(``realtime_engine.replay.runner``) publish through. Two implement it:

- ``publisher.TelemetryPublisher``: MQTT 5 at QoS 1, one message per fix or load on the
  ingress contract's topics (DESIGN.md);
- ``streams_publisher.StreamsPublisher``: one gateway record per fix, XADDed to a Redis
  Stream as an AVL gateway writes it. The gateway record has no occupancy: a load is
  counted as skipped, never sent.

The callers publish a whole tick (or a replay step) and then ``flush``: a publisher may
buffer until then. ``close`` flushes, lets go of the connection and says how many
messages were never delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Fix:
    """One position fix: WGS84 degrees, POSIX seconds, the optionals as the vehicle has them."""

    latitude: float
    longitude: float
    timestamp: int
    bearing: float | None = None  # degrees clockwise from north
    speed_mps: float | None = None
    odometer_m: float | None = None


@dataclass(frozen=True, slots=True)
class Load:
    """Passengers on board at ``timestamp`` (POSIX seconds)."""

    count: int
    percentage: int
    timestamp: int


class FleetPublisher(Protocol):
    published: int  # messages handed over so far

    def publish_position(self, vehicle_id: str, fix: Fix) -> None: ...

    def publish_occupancy(self, vehicle_id: str, load: Load) -> None: ...

    def flush(self) -> None:
        """Send what is buffered; a publisher that sends at once does nothing."""

    def close(self, timeout_s: float | None = None) -> int:
        """Flush, wait up to ``timeout_s`` for delivery, disconnect; how many never were."""
