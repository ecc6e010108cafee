"""The ``/ws/live/`` message schema (docs/api/websocket.md): types, codes and their encoders.

Server messages are msgspec Structs tagged by ``type`` and encoded to JSON text once,
by whoever produces them (the fan-out encodes once per group, not once per client).
Client messages are decoded here into ``ClientMessage`` or an ``ErrorCode``. Pure.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

import msgspec

from runs.domain.telemetry.occupancy import Occupancy
from runs.domain.telemetry.position import Position


class CloseCode(IntEnum):
    """WebSocket close codes (4000-4999 are the application's)."""

    GOING_AWAY = 1001  # RFC 6455: the server shuts down (a deploy); reconnect
    UNAUTHENTICATED = 4401
    TOO_SLOW = 4408  # the outbound queue passed its bound


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    BAD_TOPIC = "bad_topic"
    NOT_SUBSCRIBED = "not_subscribed"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"


class ClientType(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PING = "ping"


class _Message(msgspec.Struct, tag_field="type", omit_defaults=True):
    pass


class VehicleUpdate(msgspec.Struct, omit_defaults=True):
    """One vehicle's latest telemetry; position fields are absent on an occupancy-only update."""

    vehicle_id: str
    run_id: str | None = None
    route_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    bearing: float | None = None
    speed: float | None = None
    odometer: float | None = None
    timestamp: int | None = None
    occupancy_status: str | None = None
    occupancy_percentage: int | None = None
    occupancy_count: int | None = None


def vehicle_update(
    vehicle_id: str,
    position: Position | None,
    occupancy: Occupancy | None,
    run_id: str | None = None,
    route_id: str | None = None,
) -> VehicleUpdate:
    """One vehicle's entry in ``position`` and ``snapshot`` messages."""
    update = VehicleUpdate(vehicle_id=vehicle_id, run_id=run_id or None, route_id=route_id or None)
    if position is not None:
        update.latitude = position.latitude
        update.longitude = position.longitude
        update.bearing = position.bearing
        update.speed = position.speed
        update.odometer = position.odometer
        update.timestamp = position.timestamp
    if occupancy is not None:
        update.occupancy_status = occupancy.status.value
        update.occupancy_percentage = occupancy.percentage
        update.occupancy_count = occupancy.count
    return update


class StopStatusView(msgspec.Struct, omit_defaults=True):
    current_status: str
    timestamp: int
    current_stop_sequence: int | None = None
    stop_id: str | None = None


class NextStopView(msgspec.Struct, omit_defaults=True):
    """The first stop the run has not passed, with its predicted arrival (POSIX s)."""

    stop_sequence: int
    stop_id: str
    arrival: int | None = None
    departure: int | None = None
    uncertainty_s: int | None = None


class RunView(msgspec.Struct, omit_defaults=True):
    """A run as the ``run:{rid}`` projection holds it, with its stop status and next stop."""

    run_id: str
    state: str
    vehicle_id: str | None = None
    route_id: str | None = None
    trip_id: str | None = None
    start_date: str | None = None
    start_time: str | None = None
    stop_status: StopStatusView | None = None
    next_stop: NextStopView | None = None


class Snapshot(_Message, tag="snapshot"):
    topic: str
    vehicles: list[VehicleUpdate]
    runs: list[RunView]
    at: float


class PositionMessage(_Message, tag="position"):
    topic: str
    vehicles: list[VehicleUpdate]
    sent_at: float


class RunStateMessage(_Message, tag="run_state"):
    topic: str
    run_id: str
    state: str
    sent_at: float
    previous_state: str | None = None
    event: str | None = None
    vehicle_id: str | None = None
    route_id: str | None = None
    trip_id: str | None = None


class StopStatusMessage(_Message, tag="stop_status"):
    topic: str
    run_id: str
    status: StopStatusView
    sent_at: float
    vehicle_id: str | None = None
    route_id: str | None = None


class FeedStatusMessage(_Message, tag="feed_status"):
    topic: str
    feed: str
    header_timestamp: int
    sent_at: float
    entities: int | None = None


class Subscribed(_Message, tag="subscribed"):
    topic: str


class Unsubscribed(_Message, tag="unsubscribed"):
    topic: str


class ErrorMessage(_Message, tag="error"):
    code: ErrorCode
    detail: str


class Ping(_Message, tag="ping"):
    at: float


class Pong(_Message, tag="pong"):
    at: float


ServerMessage = (
    Snapshot
    | PositionMessage
    | RunStateMessage
    | StopStatusMessage
    | FeedStatusMessage
    | Subscribed
    | Unsubscribed
    | ErrorMessage
    | Ping
    | Pong
)

_encoder = msgspec.json.Encoder()


def encode(message: ServerMessage) -> str:
    return _encoder.encode(message).decode()


class ClientMessage(msgspec.Struct, frozen=True):
    type: ClientType
    topic: str | None = None


class ClientError(ValueError):
    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def decode_client(text: str | None) -> ClientMessage:
    """A client message, or ``ClientError`` saying what is wrong with it."""
    if text is None:
        raise ClientError(ErrorCode.BAD_MESSAGE, "send JSON text frames, not binary")
    try:
        raw = msgspec.json.decode(text)
    except msgspec.DecodeError as error:
        raise ClientError(ErrorCode.BAD_JSON, f"not JSON: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ClientError(ErrorCode.BAD_MESSAGE, 'expected an object with a "type" string')
    try:
        kind = ClientType(raw["type"])
    except ValueError:
        raise ClientError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {raw['type']!r}") from None
    topic = raw.get("topic")
    if kind in (ClientType.SUBSCRIBE, ClientType.UNSUBSCRIBE) and not isinstance(topic, str):
        raise ClientError(ErrorCode.BAD_TOPIC, f'"{kind}" needs a "topic" string')
    return ClientMessage(kind, topic if isinstance(topic, str) else None)
