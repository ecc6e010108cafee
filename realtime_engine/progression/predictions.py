"""The prediction shell: a matched run's stop time updates, observed and predicted.

Predictions start from the schedule deviation at the matched distance and use the
observed travel-time history of ``segment_history`` (refreshed every few minutes); the
rules are the pure ``schedule_engine.predictions``. They are computed only at the fixes
the pure ``runs.domain.progression.prediction_refresh`` picks (a stop completed or
changed, the deviation moved, the last computation old): ``refreshed_basis`` folds that
decision over a batch's fixes from the basis stored in the matcher state, and
``predictions_of`` computes the updates from the resulting basis alone (with the observed
stops), so they are the same whichever fix of which batch reached it. A run of a
headway-based instance (frequencies.txt ``exact_times=0``, ``schedule_engine.blocks``)
is predicted from its position and running times only: it has no timetable to wait
for. Called by ``published`` for every run matched; no I/O but the frequency index's
one read per GTFS version and process.
"""

from __future__ import annotations

from django.conf import settings

from realtime_engine.progression.matching import RunProgressed
from realtime_engine.progression.run_trips import TripToMatch
from realtime_engine.segment_history import StopSegmentHistory, segment_history_at_hour
from runs.domain.progression.matching import MatchStep
from runs.domain.progression.prediction_refresh import RefreshConfig, basis_after
from runs.domain.progression.state import PredictionBasis
from runs.domain.progression.status import Phase
from runs.domain.telemetry import stop_time_updates as updates_contract
from schedule_engine.blocks import headway_based
from schedule_engine.gtfs_import.fields import format_time
from schedule_engine.predictions.inputs import schedule_deviation_s
from schedule_engine.predictions.predictor import ObservedStop, predict_stop_times


def refresh_config() -> RefreshConfig:
    """The refresh thresholds of this deployment (``PREDICTION_REFRESH_*``)."""
    return RefreshConfig(
        deviation_s=settings.PREDICTION_REFRESH_DEVIATION_S,
        max_age_s=settings.PREDICTION_REFRESH_MAX_AGE_S,
    )


def basis_of(trip: TripToMatch, step: MatchStep) -> PredictionBasis | None:
    """What a prediction at ``step`` would start from; None without scheduled stops."""
    stops = trip.scheduled_stops()
    if stops is None:
        return None
    state, progress = step.state, step.progress
    at = float(int(state.matched_at))  # whole seconds, as the updates' timestamp
    delay = schedule_deviation_s(
        stops,
        trip.geometry.stop_distances_m,
        distance_m=state.distance_m,
        at=at,
        departed=progress.phase is Phase.ON_ROUTE,
    )
    return PredictionBasis(at, delay, progress.phase, progress.stop_index, progress.status)


def refreshed_basis(progressed: RunProgressed, config: RefreshConfig) -> PredictionBasis | None:
    """The basis after the batch's fixes: the stored one (that of the state the match
    started from) unless a fix refreshed it. None: the trip has no stops to predict."""
    trip = progressed.run.trip
    if trip.scheduled_stops() is None:
        return None
    steps = progressed.steps or (progressed.step,)
    return basis_after(
        progressed.plan.start.prediction,
        ((basis_of(trip, step), bool(step.events)) for step in steps),
        config,
    )


def headway_based_instance(trip: TripToMatch) -> bool:
    """Whether the run's trip instance runs without a timetable (exact_times=0)."""
    scheduled = trip.schedule.trip
    start_time = format_time(scheduled.stops[0].departure_s + trip.start_shift_s)
    return headway_based(trip.trip_id, start_time, feed_id=scheduled.feed_id)


def observed_after(progressed: RunProgressed) -> dict[int, ObservedStop]:
    """The run's observed stops including those the matched fixes completed."""
    observed = dict(progressed.run.observed)
    for event in progressed.events:
        observed[event.stop_sequence] = ObservedStop(event.arrived_at, event.departed_at)
    return observed


def predictions_of(
    progressed: RunProgressed, basis: PredictionBasis | None, history: StopSegmentHistory
) -> updates_contract.StopTimeUpdates | None:
    """Observed times of the stops passed and predictions, from ``basis``, for the rest of
    the run's trip (None without a basis: no stops to predict)."""
    stops = progressed.run.trip.scheduled_stops()
    if stops is None or basis is None:
        return None
    observed = observed_after(progressed)
    at = basis.at
    predictions = predict_stop_times(
        stops,
        next_index=basis.stop_index if basis.phase is Phase.ON_ROUTE else 0,
        now=at,
        delay_s=basis.delay_s,
        observed=observed,
        history=segment_history_at_hour(history, int(at // 3600) % 24),  # the UTC hour
        headway_based=headway_based_instance(progressed.run.trip),
    )
    # Positional and in a list: a trip's every stop, on every refresh.
    update = updates_contract.StopTimeUpdate
    return updates_contract.StopTimeUpdates(
        timestamp=int(at),
        updates=tuple(
            [
                update(
                    p.stop_sequence,
                    p.stop_id,
                    p.arrival,
                    p.departure,
                    None if p.observed else p.uncertainty_s,
                    p.observed,
                )
                for p in predictions
            ]
        ),
    )
