"""What a matched run publishes with its matcher state, each value checked by its contract.

``matcher_write`` writes these fields in the same compare-and-set as the state:
``vehicle_stop_status`` (absent while pre-trip: such a vehicle is not on-route),
``stop_time_updates`` and ``congestion_level``, each through its contract's
``validate_for_write``. The stop time updates are computed and replaced only when the
batch moved the run's prediction basis (``predictions.refreshed_basis``) or re-matched it
from a checkpoint: the stored ones are those of the stored basis, so a basis unchanged
leaves them as they are. A value the
contract refuses publishes nothing for that run this time (logged); the matcher state
still advances, with its basis as it was. No I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from realtime_engine.progression.congestion import congestion_of
from realtime_engine.progression.matching import RunProgressed, observed_stops
from realtime_engine.progression.predictions import predictions_of, refreshed_basis
from realtime_engine.progression.stop_status import stop_status_of
from realtime_engine.segment_history import StopSegmentHistory
from runs.domain.progression.prediction_refresh import RefreshConfig
from runs.domain.progression.state import PredictionBasis
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
    # Only when ``refreshed``: None, no stop times to predict, the hash is removed.
    updates: Mapping[str, str] | None
    congestion: Mapping[str, str] | None  # None: no segment completed, the hash is kept
    # The observed stops of the updates stored after the write, as a read gives them back.
    observed: Mapping[int, ObservedStop]
    basis: PredictionBasis | None  # what the stored updates are computed from
    refreshed: bool = True  # False: the basis did not move, the stored updates stay


def published_fields(
    progressed: RunProgressed, history: StopSegmentHistory, refresh: RefreshConfig
) -> PublishedFields | None:
    """The run's published values after this batch; None if a contract refused one."""
    run = progressed.run
    basis = refreshed_basis(progressed, refresh)
    # A re-match from a checkpoint may have replaced stops the stored updates observed
    # (a late fix): computed again from the basis, which is always what one in-order
    # fold would publish.
    refreshed = basis != run.state.prediction or progressed.plan.rewound
    try:
        status = stop_status_of(progressed.step.progress, progressed.at)
        status_fields = stop_status_contract.validate_for_write(status) if status else None
        updates = predictions_of(progressed, basis, history) if refreshed else None
        update_fields = updates_contract.validate_for_write(updates) if updates else None
        congestion = congestion_of(progressed)
        congestion_fields = (
            congestion_contract.validate_for_write(congestion) if congestion else None
        )
    except TelemetryRejected as error:
        # The matcher state still advances; the published values stay as they were.
        logger.warning("progression: run %s not published: %s", run.run_id, error)
        return None
    # Unrefreshed: the stored updates stay, and so do the observed stops read from them.
    observed = observed_stops(updates) if updates else {}
    if not refreshed:
        observed = run.observed
    return PublishedFields(
        status_fields, update_fields, congestion_fields, observed, basis, refreshed
    )
