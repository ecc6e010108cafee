"""The stop-status shell: what a matched run publishes as its vehicle's stop status.

``stop_status_of`` is the published value (``published`` writes it with the matcher
state); ``stop_status_changes`` picks the runs whose status this batch changed, which
``observer`` fans out live. No I/O.
"""

from __future__ import annotations

from realtime_engine.progression.matching import RunProgressed
from runs.domain.progression.config import ProgressionConfig
from runs.domain.progression.matching import Progress, progress_of
from runs.domain.progression.status import Phase
from runs.domain.telemetry import vehicle_stop_status as stop_status_contract
from runs.domain.telemetry.vehicle_stop_status import VehicleStopStatus


def stop_status_of(progress: Progress, timestamp: int) -> VehicleStopStatus | None:
    """What is published of a progress: nothing while the vehicle is pre-trip (not on-route)."""
    if progress.phase is Phase.PRE_TRIP:
        return None
    return VehicleStopStatus(
        current_status=stop_status_contract.StopStatusCode(progress.status.value),
        timestamp=timestamp,
        current_stop_sequence=progress.stop_sequence,
        stop_id=progress.stop_id,
    )


def stop_status_changes(
    progressed: list[RunProgressed], config: ProgressionConfig
) -> list[tuple[RunProgressed, VehicleStopStatus]]:
    """The runs whose published stop status differs from the one before this batch."""
    changed = []
    for item in progressed:
        run, after = item.run, item.step.progress
        before = progress_of(run.trip.geometry, run.state, run.state.speed_mps, config)
        status = stop_status_of(after, item.at)
        if status is not None and (before.phase, before.status, before.stop_sequence) != (
            after.phase,
            after.status,
            after.stop_sequence,
        ):
            changed.append((item, status))
    return changed
