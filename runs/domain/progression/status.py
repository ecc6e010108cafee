"""The phase of a run relative to its trip's shape.

The stop status and congestion level progression publishes are the telemetry
contracts' enumerations (``StopStatusCode``, ``CongestionLevelCode``), not copies.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where a run is relative to its trip's shape.

    PRE_TRIP: layover or deadhead before the trip leaves its first stop; the
    vehicle is not on-route and must not be published as such. ON_ROUTE: matched
    along the trip.
    """

    PRE_TRIP = "pre_trip"
    ON_ROUTE = "on_route"
