"""Turn one received MQTT message into a typed value, an ignore, or a rejection. Never raises.

The one entry point the consumer (and ``manage.py dlq``) uses per message
(``receive_message`` pairs the result with the raw message for ``plan_batch``);
the contract modules in ``runs.domain.telemetry`` do the payload work. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from realtime_engine.ingest.topics import TelemetryLeaf, parse_topic
from runs.domain.telemetry import occupancy, position
from runs.domain.telemetry.limits import MAX_PAYLOAD_BYTES
from runs.domain.telemetry.occupancy import Occupancy
from runs.domain.telemetry.position import Position
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused message, as the dead-letter stream records it."""

    topic: str
    payload: bytes
    reason: RejectReason
    detail: str
    received_at: float


@dataclass(frozen=True, slots=True)
class Ignored:
    """A message on a decommissioned leaf: counted, not stored."""

    leaf: TelemetryLeaf


Decoded = Position | Occupancy | Ignored | Rejection


class Received(NamedTuple):
    """One message as an ingress received it, with what its decoder made of it: what
    ``plan_batch`` takes. ``topic`` and ``payload`` are what a dead letter keeps (and
    ``manage.py dlq replay`` publishes again); an ingress without topics names its source."""

    topic: str
    payload: bytes
    decoded: Decoded


_DECODERS = {TelemetryLeaf.POSITION: position.decode, TelemetryLeaf.OCCUPANCY: occupancy.decode}


def decode_message(topic: str, payload: bytes, received_at: float, root: str) -> Decoded:
    try:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise TelemetryRejected(
                RejectReason.PAYLOAD_TOO_LARGE,
                f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}",
            )
        vehicle_id, leaf = parse_topic(topic, root)
        decoder = _DECODERS.get(leaf)
        if decoder is None:
            return Ignored(leaf)
        return decoder(payload, vehicle_id=vehicle_id, received_at=received_at)
    except TelemetryRejected as rejected:
        return Rejection(topic, payload, rejected.reason, rejected.detail, received_at)
    except Exception as error:  # a decoder bug must not stop ingest
        return Rejection(
            topic, payload, RejectReason.INVALID_VALUE, f"undecodable: {error!r}", received_at
        )


def receive_message(topic: str, payload: bytes, received_at: float, root: str) -> Received:
    """An MQTT message and its decoding, ready for ``plan_batch``."""
    return Received(topic, payload, decode_message(topic, payload, received_at, root))
