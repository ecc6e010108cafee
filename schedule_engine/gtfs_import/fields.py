"""Parsers for GTFS field values: pure functions from text to typed values.

Each raises `FieldError` with a reason a human can act on; the loader adds the
file, line and column. Imports only the standard library.
"""

from __future__ import annotations

import datetime as dt
import math

from schedule_engine.gtfs_import.errors import FieldError


def parse_time(text: str) -> int:
    """`H:MM:SS` or `HH:MM:SS` (hours may exceed 24) → seconds after the service-day origin."""
    parts = text.strip().split(":")
    if (
        len(parts) != 3
        or not all(p.isdigit() for p in parts)
        or len(parts[1]) != 2
        or len(parts[2]) != 2
    ):
        raise FieldError(f"invalid time {text!r}, expected HH:MM:SS")
    hours, minutes, seconds = (int(p) for p in parts)
    if minutes > 59:
        raise FieldError(f"invalid time {text!r}: minutes {minutes} out of range 0..59")
    if seconds > 59:
        raise FieldError(f"invalid time {text!r}: seconds {seconds} out of range 0..59")
    return hours * 3600 + minutes * 60 + seconds


def format_time(seconds: int) -> str:
    """Seconds after the service-day origin → `HH:MM:SS` (hours may exceed 24)."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def parse_date(text: str) -> dt.date:
    """`YYYYMMDD` → date."""
    text = text.strip()
    if len(text) != 8 or not text.isdigit():
        raise FieldError(f"invalid date {text!r}, expected YYYYMMDD")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as error:
        raise FieldError(f"invalid date {text!r}: {error}") from None


def parse_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FieldError(f"invalid number {text!r}") from None
    if not math.isfinite(value):
        raise FieldError(f"invalid number {text!r}")
    return value


def parse_latitude(text: str) -> float:
    value = parse_float(text)
    if not -90.0 <= value <= 90.0:
        raise FieldError(f"latitude {text!r} out of range -90..90")
    return value


def parse_longitude(text: str) -> float:
    value = parse_float(text)
    if not -180.0 <= value <= 180.0:
        raise FieldError(f"longitude {text!r} out of range -180..180")
    return value


def parse_int(text: str, *, minimum: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise FieldError(f"invalid integer {text!r}") from None
    if minimum is not None and value < minimum:
        raise FieldError(f"{value} is below the minimum {minimum}")
    return value


def parse_enum(text: str, allowed: range | tuple[int, ...]) -> int:
    value = parse_int(text)
    if value not in allowed:
        raise FieldError(f"{text!r} is not one of {', '.join(str(v) for v in allowed)}")
    return value


def parse_non_negative_float(text: str) -> float:
    value = parse_float(text)
    if value < 0:
        raise FieldError(f"{text!r} is negative")
    return value
