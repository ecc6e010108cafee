"""The matcher's memory of one run, a frozen value kept in hot state between positions.

Written by the progression producer after each position (``to_redis``: a flat
str→str hash) and read back before the next one (``from_redis``: tolerant, a
missing or unreadable field falls back to its initial value, so a damaged hash
costs at most a re-acquisition, never a crash).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from runs.domain.progression.status import Phase


@dataclass(frozen=True, slots=True)
class MatchState:
    # When the trip is scheduled to leave its first stop (POSIX s); gates pre-trip departure.
    scheduled_start: float
    phase: Phase = Phase.PRE_TRIP
    distance_m: float = 0.0  # distance along the trip of the last matched fix
    max_distance_m: float = 0.0  # furthest matched: the search window's anchor
    matched_at: float = 0.0  # timestamp of the last fix used (0: none yet)
    speed_mps: float = 0.0  # last known speed, sizes the next search window
    off_route: bool = False  # the last fix was farther than the off-route radius
    zone_index: int = -1  # stop whose zone the last fixes were in (-1: none)
    zone_entered_at: float = 0.0
    zone_last_at: float = 0.0
    events_through: int = -1  # index of the last stop whose event was produced
    noise_m2: float = 0.0  # GPS noise variance estimate (m²), see matching._noise_estimate
    offset_m: float = 0.0  # signed distance off the shape of the last matched fix (left > 0)
    still_count: int = 0  # consecutive fixes of a bus standing still, averaged into distance_m

    def to_redis(self) -> dict[str, str]:
        # Written three times per run and batch (state, two checkpoints): the field names
        # are looked up once (``_FIELD_NAMES``), not through ``dataclasses.fields``.
        out = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            out[name] = ("1" if value else "0") if value.__class__ is bool else str(value)
        return out

    @classmethod
    def from_redis(cls, raw: dict[str, str], *, scheduled_start: float) -> MatchState:
        """The stored state, or the initial one for fields that are missing or unreadable."""
        values = {"scheduled_start": scheduled_start}
        for name, default in _DEFAULTS:
            text = raw.get(name)
            if text is not None:
                values[name] = _parse(text, default)
        if "scheduled_start" in raw:
            values["scheduled_start"] = _parse(raw["scheduled_start"], scheduled_start)
        return cls(**values)


_FIELD_NAMES = tuple(field.name for field in fields(MatchState))
# Every field but scheduled_start, whose default is the caller's, with its initial value.
_DEFAULTS = tuple(
    (field.name, field.default) for field in fields(MatchState) if field.name != "scheduled_start"
)


def _parse(text: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            return {"1": True, "0": False}[text]
        if isinstance(default, Phase):
            return Phase(text)
        if isinstance(default, int):
            return int(text)
        value = float(text)
        return value if value == value else default  # NaN is unreadable
    except (KeyError, ValueError):
        return default
