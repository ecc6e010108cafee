"""What a matched run publishes with its matcher state, each value checked by its contract.

``matcher_write`` writes these fields in the same compare-and-set as the state:
``vehicle_stop_status`` (absent while pre-trip: such a vehicle is not on-route),
``stop_time_updates`` and ``congestion_level``, each through its contract's
``validate_for_write``. A value the contract refuses publishes nothing for that run
this time (logged); the matcher state still advances. No I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from realtime_engine.progression.congestion import congestion_of
from realtime_engine.progression.matching import RunProgressed, observed_stops
from realtime_engine.progression.predictions import predictions_of
from realtime_engine.progression.stop_status import stop_status_of
from realtime_engine.segment_history import StopSegmentHistory
from runs.domain.telemetry import congestion_level as congestion_contract
from runs.domain.telemetry import stop_time_updates as updates_contract
from runs.domain.telemetry import vehicle_stop_status as stop_status_contract
from runs.domain.telemetry.rejection import TelemetryRejected
from schedule_engine.predictions.predictor import ObservedStop

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PublishedFields:
    """The hashes of a run's published values, as their contracts validated them."""

    status: Mapping[str, str] | None  # None: no stop status (pre-trip), the hash is removed
    updates: Mapping[str, str] | None  # None: no stop times to predict, the hash is removed
    congestion: Mapping[str, str] | None  # None: no segment completed, the hash is kept
    # The observed stops of ``updates`` as a read of the hash gives them back.
    observed: Mapping[int, ObservedStop]


def published_fields(
    progressed: RunProgressed, history: StopSegmentHistory
) -> PublishedFields | None:
    """The run's published values after this batch; None if a contract refused one."""
    try:
        status = stop_status_of(progressed.step.progress, progressed.at)
        status_fields = stop_status_contract.validate_for_write(status) if status else None
        updates = predictions_of(progressed, history)
        update_fields = updates_contract.validate_for_write(updates) if updates else None
        congestion = congestion_of(progressed)
        congestion_fields = (
            congestion_contract.validate_for_write(congestion) if congestion else None
        )
    except TelemetryRejected as error:
        # The matcher state still advances; the published values stay as they were.
        logger.warning("progression: run %s not published: %s", progressed.run.run_id, error)
        return None
    observed = observed_stops(updates) if updates else {}
    return PublishedFields(status_fields, update_fields, congestion_fields, observed)
