"""The congestion shell: the level of the last segment a matched run completed.

The observed departure-to-departure time of that segment against the scheduled one,
judged by the pure ``runs.domain.progression.congestion``. Called by ``published``;
no I/O.
"""

from __future__ import annotations

from realtime_engine.progression.matching import RunProgressed
from realtime_engine.progression.predictions import observed_after
from runs.domain.progression.congestion import congestion_level
from runs.domain.telemetry import congestion_level as congestion_contract


def congestion_of(progressed: RunProgressed) -> congestion_contract.CongestionLevel | None:
    """The level of the last segment the matched fixes completed (None: none completed)."""
    events = progressed.events
    stops = progressed.run.trip.scheduled_stops()
    if not events or stops is None:
        return None
    observed = observed_after(progressed)
    index = {stop.stop_sequence: i for i, stop in enumerate(stops)}
    last = index[events[-1].stop_sequence]
    if last == 0 or stops[last - 1].stop_sequence not in observed:
        return None
    before, after = observed[stops[last - 1].stop_sequence], observed[stops[last].stop_sequence]
    # Departure to departure (arrival where there is none: the terminal).
    observed_s = (after.departed_at or after.arrived_at) - (before.departed_at or before.arrived_at)
    scheduled_s = stops[last].departure - stops[last - 1].departure
    return congestion_contract.CongestionLevel(
        congestion_level=congestion_level(observed_s, scheduled_s),
        # When the segment was completed, not when the batch ended: the same value
        # however the fixes were batched or split between workers.
        timestamp=int(after.departed_at or after.arrived_at),
    )
