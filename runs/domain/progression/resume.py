"""A run's matcher state and observed times, resumed from its durable stop events.

When Redis lost ``run:{rid}:progression`` and ``run:{rid}:stop_time_updates`` the
stop events in PostgreSQL still say which stops the run has passed and when. The
resumed state puts the vehicle at the last stop it left, at the time it left, with
every earlier stop's event already produced (``events_through``): the next fix is
matched from there, so stops it passed in the meantime get their events (interpolated
between that departure and the fix, as for any skipped stop) and no stop gets a second
one. Its ``matched_at`` is that departure, older than any fix ingest matches later,
so a state the producer writes afterwards always wins. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from runs.domain.geometry import TripGeometry
from runs.domain.progression.state import MatchState
from runs.domain.progression.status import Phase
from runs.domain.progression.stop_events import StopCall
from runs.domain.telemetry.stop_time_updates import StopTimeUpdate, StopTimeUpdates

# The producer supplies scheduled_start from the schedule whenever it reads a state
# (``MatchState.from_redis`` takes it for a missing field), so a resumed state leaves it
# out rather than looking the schedule up for every run.
OMITTED_FIELDS = ("scheduled_start",)


def _event_time(event: StopCall) -> float:
    return event.departed_at if event.departed_at is not None else event.arrived_at


def _indexed(geometry: TripGeometry, events: Iterable[StopCall]) -> list[tuple[int, StopCall]]:
    """Events of stops on the trip's geometry with their stop index, in stop order."""
    index_of = {sequence: i for i, sequence in enumerate(geometry.stop_sequences)}
    return sorted(
        ((index_of[e.stop_sequence], e) for e in events if e.stop_sequence in index_of),
        key=lambda pair: pair[0],
    )


def last_passed(geometry: TripGeometry, events: Iterable[StopCall]) -> tuple[int, StopCall] | None:
    """The stop the run left last (latest in time; a run back at its first stops after a
    terminal loop has re-recorded them later than the far stops of its previous pass)."""
    indexed = _indexed(geometry, events)
    if not indexed:
        return None
    return max(indexed, key=lambda pair: (_event_time(pair[1]), pair[0]))


def resumed_state(geometry: TripGeometry, events: Iterable[StopCall]) -> MatchState | None:
    """The matcher state after the last stop event; None without one (the run starts over,
    as on its first fix)."""
    last = last_passed(geometry, events)
    if last is None:
        return None
    index, event = last
    at_stop = geometry.stop_distances_m[index]
    return MatchState(
        scheduled_start=0.0,  # not written: see OMITTED_FIELDS
        phase=Phase.ON_ROUTE,
        distance_m=at_stop,
        max_distance_m=at_stop,
        matched_at=_event_time(event),
        events_through=index,
    )


def state_fields(state: MatchState) -> dict[str, str]:
    """The hash a resumed state is written as (``MatchState.to_redis`` minus the omitted)."""
    return {k: v for k, v in state.to_redis().items() if k not in OMITTED_FIELDS}


def observed_updates(geometry: TripGeometry, events: Sequence[StopCall]) -> StopTimeUpdates | None:
    """The observed times the predictor keeps in ``stop_time_updates``, from the stop events
    up to the last stop passed; None without events.

    Only the pass that ended at that stop is kept (an earlier lap's later stops are not
    behind the vehicle), and a time not after the one before it (two stops interpolated
    into one second) is dropped: the contract wants strictly increasing times.
    """
    last = last_passed(geometry, events)
    if last is None:
        return None
    through, latest = last
    updates: list[StopTimeUpdate] = []
    previous: int | None = None
    for index, event in _indexed(geometry, events):
        if index > through or _event_time(event) > _event_time(latest):
            continue
        arrival = round(event.arrived_at)
        departure = None if event.departed_at is None else max(round(event.departed_at), arrival)
        if previous is not None and arrival <= previous:
            continue
        updates.append(
            StopTimeUpdate(
                stop_sequence=geometry.stop_sequences[index],
                stop_id=event.stop_id,
                arrival=arrival,
                departure=departure,
                uncertainty_s=None,
                observed=True,
            )
        )
        previous = departure if departure is not None else arrival
    return StopTimeUpdates(timestamp=round(_event_time(latest)), updates=tuple(updates))
