"""Why a telemetry message was refused: the dead-letter reason codes and their exception.

Raised by the contract modules (decode, ``validate_for_write``) and by the
consumer's topic routing; the consumer writes the reason into ``telemetry:dlq``
and counts it. The codes are stored values: add, never rename.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_TOPIC = "unknown_topic"
    INVALID_VEHICLE_ID = "invalid_vehicle_id"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    MISSING_COORDINATES = "missing_coordinates"
    COORDINATES_OUT_OF_RANGE = "coordinates_out_of_range"
    NOT_FINITE = "not_finite"
    NEGATIVE_SPEED = "negative_speed"
    NEGATIVE_ODOMETER = "negative_odometer"
    NEGATIVE_OCCUPANCY = "negative_occupancy"
    BEARING_OUT_OF_RANGE = "bearing_out_of_range"
    TIMESTAMP_IN_MILLISECONDS = "timestamp_in_milliseconds"
    TIMESTAMP_NOT_POSIX_SECONDS = "timestamp_not_posix_seconds"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    WRONG_TYPE = "wrong_type"
    MISSING_FIELD = "missing_field"
    INVALID_VALUE = "invalid_value"
    # Above the plausible maximum of limits.py (a negative value keeps its NEGATIVE_* code).
    SPEED_OUT_OF_RANGE = "speed_out_of_range"
    ODOMETER_OUT_OF_RANGE = "odometer_out_of_range"
    OCCUPANCY_OUT_OF_RANGE = "occupancy_out_of_range"
    # A well-formed message from a vehicle with no row in the vehicles table (refused unless
    # INGEST_ALLOW_UNKNOWN_VEHICLES): an ingress's admission step, not the contracts, decides.
    UNKNOWN_VEHICLE = "unknown_vehicle"
    # Redis Streams ingress (realtime_engine.ingest.streams.record): a record whose device
    # (tracker IMEI) maps to no vehicle; a malformed ``__bigint``/``__buffer_b64`` sentinel;
    # an IO bag over the record's bounds (keys, key length, depth, value size); a device id
    # that is not a usable id; an epoch-milliseconds timestamp too small to be one.
    UNKNOWN_DEVICE = "unknown_device"
    BAD_SENTINEL = "bad_sentinel"
    ATTRIBUTES_TOO_LARGE = "attributes_too_large"
    INVALID_DEVICE_ID = "invalid_device_id"
    TIMESTAMP_NOT_EPOCH_MILLISECONDS = "timestamp_not_epoch_milliseconds"
    # A stream entry delivered more than STREAMS_MAX_DELIVERIES times (it keeps failing).
    MAX_DELIVERIES = "max_deliveries"


class TelemetryRejected(ValueError):
    """A payload or value that must not reach hot state; ``reason`` says why, ``detail`` how."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
