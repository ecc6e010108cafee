"""The prediction shell: a matched run's stop time updates, observed and predicted.

Predictions start from the schedule deviation at the matched distance and use the
observed travel-time history of ``segment_history`` (refreshed every few minutes); the
rules are the pure ``schedule_engine.predictions``. Called by ``published`` for every run
matched; no I/O.
"""

from __future__ import annotations

from realtime_engine.progression.matching import RunProgressed
from realtime_engine.segment_history import StopSegmentHistory, segment_history_at_hour
from runs.domain.progression.status import Phase
from runs.domain.telemetry import stop_time_updates as updates_contract
from schedule_engine.predictions.inputs import schedule_deviation_s
from schedule_engine.predictions.predictor import ObservedStop, predict_stop_times


def observed_after(progressed: RunProgressed) -> dict[int, ObservedStop]:
    """The run's observed stops including those the matched fixes completed."""
    observed = dict(progressed.run.observed)
    for event in progressed.events:
        observed[event.stop_sequence] = ObservedStop(event.arrived_at, event.departed_at)
    return observed


def predictions_of(
    progressed: RunProgressed, history: StopSegmentHistory
) -> updates_contract.StopTimeUpdates | None:
    """Observed times of the stops passed and predictions for the rest of the run's trip."""
    trip, step = progressed.run.trip, progressed.step
    stops = trip.scheduled_stops()
    if stops is None:
        return None
    observed = observed_after(progressed)
    at = float(progressed.at)
    departed = step.progress.phase is Phase.ON_ROUTE
    delay = schedule_deviation_s(
        stops,
        trip.geometry.stop_distances_m,
        distance_m=step.state.distance_m,
        at=at,
        departed=departed,
    )
    predictions = predict_stop_times(
        stops,
        next_index=step.progress.stop_index if departed else 0,
        now=at,
        delay_s=delay,
        observed=observed,
        history=segment_history_at_hour(history, int(at // 3600) % 24),  # the UTC hour
    )
    # Positional and in a list: a trip's every stop, on every matched position.
    update = updates_contract.StopTimeUpdate
    return updates_contract.StopTimeUpdates(
        timestamp=progressed.at,
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
