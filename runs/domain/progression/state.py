"""The matcher's memory of one run, a frozen value kept in hot state between positions.

Written by the progression producer after each position (``to_redis``: a flat
str→str hash) and read back before the next one (``from_redis``: tolerant, a
missing or unreadable field falls back to its initial value, so a damaged hash
costs at most a re-acquisition, never a crash).

Beside the matcher's own fields the state carries ``prediction``: what the run's
published predictions were last computed from (``PredictionBasis``). The matcher
neither reads nor carries it; the producer sets it on the state it writes
(``runs.domain.progression.prediction_refresh`` decides when it moves). Kept in the
state, so in every checkpoint, a re-match from a checkpoint decides from the basis of
that point of the fold, as one worker matching every fix in order would.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from runs.domain.progression.status import Phase
from runs.domain.telemetry.vehicle_stop_status import StopStatusCode


@dataclass(frozen=True, slots=True)
class PredictionBasis:
    """The inputs of the run's last prediction: the fix it was computed at, the schedule
    deviation then, and where the vehicle was (phase, stop index, stop status)."""

    at: float  # the fix's timestamp (POSIX s): the stop time updates' timestamp
    delay_s: float  # seconds behind schedule then (negative: early)
    phase: Phase
    stop_index: int  # the progress's stop (at or next), an index of the trip's stops
    status: StopStatusCode

    def to_text(self) -> str:
        """One field, ``at;delay_s;phase;stop_index;status``: it is in every checkpoint too,
        so compact (five fields of their own made each checkpoint half as large again)."""
        return (
            f"{self.at!r};{self.delay_s!r};{self.phase.value};{self.stop_index};{self.status.value}"
        )

    @classmethod
    def from_text(cls, text: str) -> PredictionBasis | None:
        """None when unreadable: the next fix predicts afresh."""
        try:
            at, delay_s, phase, stop_index, status = text.split(";")
            basis = cls(
                float(at), float(delay_s), Phase(phase), int(stop_index), StopStatusCode(status)
            )
        except ValueError:
            return None
        finite = basis.at - basis.at == 0.0 and basis.delay_s - basis.delay_s == 0.0
        return basis if finite else None


# The basis's field in run:{rid}:progression (and in its checkpoints).
PREDICTION = "prediction"


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
    # What the published predictions were computed from (None: none yet); see the module.
    prediction: PredictionBasis | None = None

    def to_redis(self) -> dict[str, str]:
        # Written three times per run and batch (state, two checkpoints): the field names
        # are looked up once (``_FIELD_NAMES``), not through ``dataclasses.fields``.
        out = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            out[name] = ("1" if value else "0") if value.__class__ is bool else str(value)
        if self.prediction is not None:
            out[PREDICTION] = self.prediction.to_text()
        return out

    @classmethod
    def from_redis(cls, raw: dict[str, str], *, scheduled_start: float) -> MatchState:
        """The stored state, or the initial one for fields that are missing or unreadable."""
        # Read on every batch for each run another worker wrote last: each field's reader
        # is chosen once (``_READERS``), not by testing its default's type per field.
        values = {"scheduled_start": scheduled_start}
        get = raw.get
        for name, read, default in _READERS:
            text = get(name)
            if text is not None:
                values[name] = read(text, default)
        text = get("scheduled_start")
        if text is not None:
            values["scheduled_start"] = _read_float(text, scheduled_start)
        text = get(PREDICTION)
        if text is not None:
            values["prediction"] = PredictionBasis.from_text(text)
        return cls(**values)


# The flat fields (``prediction`` is one field, ``PredictionBasis.to_text``).
_FIELD_NAMES = tuple(field.name for field in fields(MatchState) if field.name != "prediction")


def _read_float(text: str, default: float) -> float:
    try:
        value = float(text)
    except ValueError:
        return default
    return value if value == value else default  # NaN is unreadable


def _read_int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


_BOOLS = {"1": True, "0": False}
_PHASES = {phase.value: phase for phase in Phase}


def _read_bool(text: str, default: bool) -> bool:
    return _BOOLS.get(text, default)


def _read_phase(text: str, default: Phase) -> Phase:
    return _PHASES.get(text, default)


def _reader(default: object):
    # bool before int: a bool is an int.
    for kind, read in ((bool, _read_bool), (Phase, _read_phase), (int, _read_int)):
        if isinstance(default, kind):
            return read
    return _read_float


# Every flat field but scheduled_start (whose initial value is the caller's), with its
# reader and initial value.
_READERS = tuple(
    (field.name, _reader(field.default), field.default)
    for field in fields(MatchState)
    if field.name not in ("scheduled_start", "prediction")
)
