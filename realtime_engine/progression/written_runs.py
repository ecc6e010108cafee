"""What this worker last wrote for each run: read back from memory instead of from Redis.

Each batch, ``matching`` needs a tracked run's matcher state and the stops it has observed,
which is what the previous write of that run stored. When this worker made that write,
it still holds the values: ``remember`` keeps, per run, the revision and ``matched_at``
the compare-and-set wrote, the state, its checkpoint member and the observed stops of the
updates it published. ``matching`` sends the held revision and ``matched_at`` to Redis,
which answers with the stored hashes only when they differ (another worker, the hot-state
rebuild or a replay mark wrote since), so an unchanged run costs neither the transfer nor
the decoding of its state and updates. The values held are those a read would decode: the
state only if it survives the text round trip (no NaN), the observed stops as the
published rows give them back. At most ``MAX_ENTRIES`` runs; past that the memory starts
again empty. No I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from operator import attrgetter

from runs.domain.progression.state import MatchState
from schedule_engine.predictions.predictor import ObservedStop

# A national fleet's runs (50,000) fit; an entry is a state and a trip's observed stops.
MAX_ENTRIES = 100_000
_float_fields = attrgetter(*(f.name for f in fields(MatchState) if f.type in ("float", float)))


@dataclass(frozen=True, slots=True)
class WrittenRun:
    revision: str  # as stored in run:{rid}:progression
    matched_at: str  # as stored: with ``revision``, what the next compare-and-set expects
    state: MatchState
    checkpoint: str  # the state's checkpoint member (``matcher_store.checkpoint_member``)
    observed: Mapping[int, ObservedStop]


_entries: dict[str, WrittenRun] = {}
_lock = threading.Lock()


def recall(run_id: str) -> WrittenRun | None:
    return _entries.get(run_id)


def remember(run_id: str, entry: WrittenRun) -> None:
    """Hold what a won compare-and-set wrote for ``run_id`` (a NaN would not read back)."""
    # A NaN makes the sum NaN (so may +inf with -inf: that run is then read back instead).
    total = sum(_float_fields(entry.state))
    if total != total:
        forget(run_id)
        return
    with _lock:
        if len(_entries) >= MAX_ENTRIES and run_id not in _entries:
            _entries.clear()
        _entries[run_id] = entry


def forget(run_id: str) -> None:
    with _lock:
        _entries.pop(run_id, None)


def clear() -> None:
    """Forget every run (tests)."""
    with _lock:
        _entries.clear()
