"""The ``/ws/live/`` message schema (docs/api/websocket.md): types, codes and their encoders.

Server messages are msgspec Structs tagged by ``type`` and encoded to JSON text once,
by whoever produces them (the fan-out encodes once per group, not once per client).
Client messages are decoded here into ``ClientMessage`` or an ``ErrorCode``: the frame's
size is checked before any parsing, and the parse is typed (an object of two string fields,
nothing else), so a deeply nested frame is refused at its first bracket instead of being
built, or skipped, recursively. Text a client sent is echoed back clipped. Pure.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

import msgspec

from runs.domain.telemetry.occupancy import Occupancy
from runs.domain.telemetry.position import Position


class CloseCode(IntEnum):
    """WebSocket close codes (4000-4999 are the application's)."""

    GOING_AWAY = 1001  # RFC 6455: the server shuts down (a deploy); reconnect
    INTERNAL_ERROR = 1011  # RFC 6455: the server failed handling a frame; reconnect
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403  # no role, or a topic the role may not watch
    TOO_SLOW = 4408  # the outbound queue passed its bound


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    BAD_TOPIC = "bad_topic"
    NOT_SUBSCRIBED = "not_subscribed"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    FRAME_TOO_LARGE = "frame_too_large"


class UnsubscribeReason(StrEnum):
    NOT_VISIBLE = "not_visible"  # the role no longer sees the topic (the run ended, say)


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


class AlertView(msgspec.Struct, omit_defaults=True):
    """A service alert as a live map shows it: GTFS-RT enum names, the header in the default
    language, the routes and stops its informed entities name."""

    alert_id: int
    active: bool
    cause: str
    effect: str
    severity: str
    header: str
    route_ids: list[str] = []
    stop_ids: list[str] = []


class Snapshot(_Message, tag="snapshot"):
    topic: str
    vehicles: list[VehicleUpdate]
    runs: list[RunView]
    at: float
    # The active alerts of the topic (``all``, ``alerts``: every one; ``route:``: those
    # naming the route); absent from the topics that carry no alerts.
    alerts: list[AlertView] | None = None


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


class AlertMessage(_Message, tag="alert"):
    """A service alert was created, updated or ended; ``alert.active`` says whether it is
    to be shown now (an ended one, or one whose periods are all past or ahead, is not)."""

    topic: str
    action: str
    alert: AlertView
    sent_at: float


class Subscribed(_Message, tag="subscribed"):
    topic: str


class Unsubscribed(_Message, tag="unsubscribed"):
    topic: str
    reason: UnsubscribeReason | None = None  # absent when the client asked


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
    | AlertMessage
    | Subscribed
    | Unsubscribed
    | ErrorMessage
    | Ping
    | Pong
)

_encoder = msgspec.json.Encoder()


def encode(message: ServerMessage) -> str:
    return _encoder.encode(message).decode()


# Client text echoed in an error ``detail`` is clipped to this many characters.
ECHO_MAX_CHARS = 64
DETAIL_MAX_CHARS = 256


def clipped(text: str, limit: int = ECHO_MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_message(code: ErrorCode, detail: str) -> ErrorMessage:
    """The ``error`` reply; its detail is bounded whatever text went into it."""
    return ErrorMessage(code=code, detail=clipped(detail, DETAIL_MAX_CHARS))


class ClientMessage(msgspec.Struct, frozen=True):
    type: ClientType
    topic: str | None = None


class _ClientFrame(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a client frame may hold. Unknown fields are refused, not skipped: msgspec skips
    a value recursively, so a field holding 5,000 ``[`` would raise ``RecursionError``."""

    type: str
    topic: str | None = None


class ClientError(ValueError):
    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


_decoder = msgspec.json.Decoder(_ClientFrame)


def decode_client(text: str | None, *, max_bytes: int) -> ClientMessage:
    """A client message's type and topic, or ``ClientError`` saying what is wrong with it.

    ``max_bytes`` bounds the UTF-8 size of the frame, checked before it is parsed.
    """
    if text is None:
        raise ClientError(ErrorCode.BAD_MESSAGE, "send JSON text frames, not binary")
    # A character is at least one byte: the length alone refuses most oversized frames.
    if len(text) > max_bytes or len(data := text.encode()) > max_bytes:
        raise ClientError(ErrorCode.FRAME_TOO_LARGE, f"frames are at most {max_bytes} bytes")
    try:
        frame = _decoder.decode(data)
    except msgspec.ValidationError as error:
        code = ErrorCode.BAD_TOPIC if str(error).endswith("`$.topic`") else ErrorCode.BAD_MESSAGE
        raise ClientError(code, f'expected {{"type": string, "topic": string}}: {error}') from None
    except msgspec.DecodeError as error:
        raise ClientError(ErrorCode.BAD_JSON, f"not JSON: {error}") from None
    try:
        kind = ClientType(frame.type)
    except ValueError:
        shown = clipped(frame.type)
        raise ClientError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {shown!r}") from None
    if kind in (ClientType.SUBSCRIBE, ClientType.UNSUBSCRIBE) and frame.topic is None:
        raise ClientError(ErrorCode.BAD_TOPIC, f'"{kind}" needs a "topic" string')
    return ClientMessage(kind, frame.topic)
