"""The enumerations progression publishes: the stop status of GTFS-RT and the run's phase."""

from __future__ import annotations

from enum import StrEnum


class VehicleStopStatus(StrEnum):
    """GTFS-RT ``VehiclePosition.VehicleStopStatus``; the values are the protobuf names."""

    INCOMING_AT = "INCOMING_AT"
    STOPPED_AT = "STOPPED_AT"
    IN_TRANSIT_TO = "IN_TRANSIT_TO"


class Phase(StrEnum):
    """Where a run is relative to its trip's shape.

    PRE_TRIP: layover or deadhead before the trip leaves its first stop; the
    vehicle is not on-route and must not be published as such. ON_ROUTE: matched
    along the trip.
    """

    PRE_TRIP = "pre_trip"
    ON_ROUTE = "on_route"


class CongestionLevel(StrEnum):
    """GTFS-RT ``VehiclePosition.CongestionLevel``; the values are the protobuf names."""

    UNKNOWN_CONGESTION_LEVEL = "UNKNOWN_CONGESTION_LEVEL"
    RUNNING_SMOOTHLY = "RUNNING_SMOOTHLY"
    STOP_AND_GO = "STOP_AND_GO"
    CONGESTION = "CONGESTION"
    SEVERE_CONGESTION = "SEVERE_CONGESTION"
