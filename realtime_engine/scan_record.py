"""Contract of `stale_run_scan:last`: what the last stale-run scan looked at and changed.

One string (``databus.keys.STALE_RUN_SCAN_LAST``) holding one JSON record, replaced by
every scan (``realtime_engine.scans``) and read by the operator's status page
(``backend.ops``). A scan does not apply events itself: it enqueues one lifecycle event
per silent run (the lifecycle task then applies it, or its guards refuse), so
``transitions`` are the transitions the scan asked for, each with the state the run was in
and the state the lifecycle table leads it to. Only the first ``MAX_LISTED`` are listed;
``transitions_total`` counts them all. Times are POSIX seconds. Pure.
"""

from __future__ import annotations

import msgspec

# A scan may judge thousands of runs (realtime_engine.scans.SCAN_LIMIT); the record stays small.
MAX_LISTED = 100


class ScanTransition(msgspec.Struct, frozen=True):
    run_id: str
    event: str  # a runs.domain.lifecycle.events.RunEvent value
    source: str  # the run's state when the scan judged it
    target: str  # the state the lifecycle table's transition leads to


class ScanRecord(msgspec.Struct, frozen=True):
    scanned_at: float
    duration_s: float
    runs_looked_at: int  # runs silent past the stale threshold, with a state, judged
    transitions_total: int
    transitions: tuple[ScanTransition, ...] = ()  # the first MAX_LISTED


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ScanRecord)


def encode(record: ScanRecord) -> str:
    return _encoder.encode(record).decode()


def decode(text: str | None) -> ScanRecord | None:
    """The stored record; None when there is none or it cannot be read (an older format)."""
    if not text:
        return None
    try:
        return _decoder.decode(text)
    except msgspec.DecodeError:
        return None
