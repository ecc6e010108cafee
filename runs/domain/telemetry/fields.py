"""Field-level decoding and checking shared by every telemetry contract module.

Strict checks raise ``TelemetryRejected``; tolerant parsers (for ``from_redis``)
return ``None`` for anything they cannot read. Pure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

from runs.domain.telemetry.limits import (
    MAX_FUTURE_SKEW_S,
    MILLISECONDS_THRESHOLD,
    MIN_POSIX_SECONDS,
)
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected


def decode_json_object(decoder: msgspec.json.Decoder, payload: bytes) -> Any:
    """Decode ``payload`` into the decoder's Struct, mapping every failure to a reason."""
    try:
        return decoder.decode(payload)
    except msgspec.ValidationError as error:
        message = str(error)
        if message.startswith("Number out of range"):
            raise TelemetryRejected(RejectReason.NOT_FINITE, message) from None
        if " - at `$" not in message:
            raise TelemetryRejected(RejectReason.NOT_AN_OBJECT, message) from None
        raise TelemetryRejected(RejectReason.WRONG_TYPE, message) from None
    except msgspec.DecodeError as error:
        raise _malformed(payload, str(error)) from None


def _malformed(payload: bytes, message: str) -> TelemetryRejected:
    # Python's json (what most edge scripts use) writes NaN/Infinity, which strict JSON
    # has no spelling for; tell the sender that rather than "not JSON".
    try:
        json.loads(payload)
    except (ValueError, RecursionError):
        return TelemetryRejected(RejectReason.NOT_JSON, message)
    return TelemetryRejected(RejectReason.NOT_FINITE, "NaN or Infinity is not a JSON number")


def check_finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise TelemetryRejected(RejectReason.NOT_FINITE, f"{name} is {value}")
    return value


def check_timestamp(value: float, *, now: float | None = None) -> int:
    """POSIX seconds as an int; ``now`` given, also refuse a clock too far ahead."""
    if isinstance(value, float):
        check_finite("timestamp", value)
        if not value.is_integer():
            raise TelemetryRejected(
                RejectReason.TIMESTAMP_NOT_POSIX_SECONDS,
                f"timestamp {value} is not a whole number of seconds",
            )
    seconds = int(value)
    if seconds >= MILLISECONDS_THRESHOLD:
        raise TelemetryRejected(
            RejectReason.TIMESTAMP_IN_MILLISECONDS,
            f"timestamp {seconds} looks like milliseconds; send POSIX seconds",
        )
    if seconds < MIN_POSIX_SECONDS:
        raise TelemetryRejected(
            RejectReason.TIMESTAMP_NOT_POSIX_SECONDS,
            f"timestamp {seconds} is before 2000-01-01; send POSIX seconds",
        )
    if now is not None and seconds > now + MAX_FUTURE_SKEW_S:
        raise TelemetryRejected(
            RejectReason.TIMESTAMP_IN_FUTURE,
            f"timestamp {seconds} is {seconds - now:.0f} s ahead of the server clock",
        )
    return seconds


def check_non_negative(name: str, value: float | None, reason: RejectReason) -> None:
    if value is not None and value < 0:
        raise TelemetryRejected(reason, f"{name} {value} is negative")


def check_range(
    name: str, value: float | None, bounds: tuple[float, float], reason: RejectReason
) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise TelemetryRejected(reason, f"{name} {value} is outside {bounds[0]}..{bounds[1]}")


def require(name: str, value: Any) -> Any:
    if value is None:
        raise TelemetryRejected(RejectReason.MISSING_FIELD, f"{name} is required")
    return value


def parse_float(text: str | None) -> float | None:
    """Tolerant: a finite float, or None for absent/unreadable text."""
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_int(text: str | None) -> int | None:
    """Tolerant: an int (also from "12.0"), or None for absent/unreadable text."""
    value = parse_float(text)
    if value is None or not value.is_integer():
        return None
    return int(value)


def format_number(value: float | int) -> str:
    """The hash spelling of a number: shortest round-trip text."""
    return repr(value)


def parse_timestamp(text: str | None) -> int | None:
    """Tolerant: POSIX seconds within the accepted range, or None."""
    value = parse_int(text)
    if value is None or not MIN_POSIX_SECONDS <= value < MILLISECONDS_THRESHOLD:
        return None
    return value


_V = TypeVar("_V")


class StoredRead(msgspec.Struct, Generic[_V], frozen=True):
    """A tolerant read of one stored hash: the value (None when unusable) and the names of
    the fields that were present but unusable, so that a reader can count and log them.
    A struct, not a frozen dataclass: a feed build makes one per record it reads."""

    value: _V | None
    bad_fields: tuple[str, ...] = ()


class StoredFields:
    """Reads the fields of one stored hash tolerantly, remembering each present field whose
    text is unreadable or out of its bounds (an absent or empty field is simply absent)."""

    __slots__ = ("_bad", "_fields")

    def __init__(self, fields: Mapping[str, str]) -> None:
        self._fields = fields
        self._bad: list[str] = []

    def text(self, name: str) -> str | None:
        return self._fields.get(name) or None

    def mark_bad(self, name: str) -> None:
        self._bad.append(name)

    def number(self, name: str, bounds: tuple[float, float] | None = None) -> float | None:
        return self._parsed(name, parse_float, bounds)

    def integer(self, name: str, bounds: tuple[int, int] | None = None) -> int | None:
        return self._parsed(name, parse_int, bounds)

    def _parsed(
        self,
        name: str,
        parse: Callable[[str | None], float | int | None],
        bounds: tuple[float, float] | None,
    ) -> Any:
        text = self._fields.get(name)
        if not text:
            return None
        value = parse(text)
        if value is None or (bounds is not None and not bounds[0] <= value <= bounds[1]):
            self._bad.append(name)
            return None
        return value

    def timestamp(self, name: str) -> int | None:
        text = self._fields.get(name)
        if not text:
            return None
        value = parse_timestamp(text)
        if value is None:
            self._bad.append(name)
        return value

    def result(self, value: _V | None) -> StoredRead[_V]:
        return StoredRead(value, tuple(self._bad))
