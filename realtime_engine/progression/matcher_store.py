"""How the matcher's state of a run is stored in Redis: its keys, their TTL, its members.

Per run: ``run:{rid}:progression`` (``MatchState``'s fields, with ``REVISION`` and
``REPLAY_FROM`` beside them), the fix log ``:fixes`` and the checkpoints ``:checkpoints``
(sorted sets by timestamp, members encoded here), and the values published with it.
Read by ``matching``, written by ``matcher_write``; ``realtime_engine.hot_state_rebuild``
writes a resumed state with the same TTL. No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from databus import keys
from runs.domain.progression.matching import Fix
from runs.domain.progression.state import MatchState

# The keys written here outlive their run by at most this (refreshed on every write).
KEY_TTL_S = 24 * 3600
# Fields of run:{rid}:progression beside MatchState's own (``from_redis`` ignores them).
REVISION = "revision"  # the write's Redis clock (µs), at least the previous revision + 1
REPLAY_FROM = "replay_from"  # the stop events of fixes from then on are not yet durable
MATCHED_AT = MatchState.__dataclass_fields__["matched_at"].name

# One encoder each, made once: json.dumps with any option builds a new JSONEncoder per call,
# which showed in the worker's profile; the output is byte for byte json.dumps's (members
# already stored must stay equal).
_encode_fix = json.JSONEncoder(separators=(",", ":")).encode
_encode_checkpoint = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def progression_keys(run_id: str) -> tuple[str, ...]:
    """Every key the progression producer writes for a run (one compare-and-set covers them)."""
    return (
        keys.run_progression(run_id),
        keys.run_progression_fixes(run_id),
        keys.run_progression_checkpoints(run_id),
        keys.run_vehicle_stop_status(run_id),
        keys.run_stop_time_updates(run_id),
        keys.run_congestion_level(run_id),
    )


def fix_member(fix: Fix) -> str:
    """A fix as a member of the run's fix log (equal fixes, equal members)."""
    return _encode_fix([fix.timestamp, fix.latitude, fix.longitude, fix.speed_mps, fix.bearing_deg])


def fix_from_member(member: str) -> Fix | None:
    try:
        timestamp, latitude, longitude, speed, bearing = json.loads(member)
        return Fix(float(timestamp), float(latitude), float(longitude), speed, bearing)
    except (ValueError, TypeError):
        return None  # a damaged entry costs that fix, not the run


def checkpoint_member(state: MatchState) -> str:
    return checkpoint_member_of(state.to_redis())


def checkpoint_member_of(fields: Mapping[str, str]) -> str:
    """The checkpoint member of a state already laid out as its hash (``to_redis``)."""
    return _encode_checkpoint(fields)


def checkpoint_from_member(member: str, scheduled_start: float) -> MatchState | None:
    try:
        raw = json.loads(member)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    return MatchState.from_redis(raw, scheduled_start=scheduled_start)
