"""Planning a trace replay: which runs to create and end, and when to publish each ping. Pure.

``plan_replay`` cuts each vehicle's pings into stretches on one trip; each stretch
whose trip runs on its service date becomes a ``PlannedRun``, started just before
its first ping. The trace's quirks are handled here:
- a trip that changes vehicle mid-route: the first vehicle's run is ended when the
  second one's starts (two runs never claim one trip);
- a vehicle that goes on to its next trip: its previous run is ended first (if the
  completion detector has not done so already);
- vehicles appearing mid-trip: the run is created at the first ping wherever it
  is (the map-matcher acquires the trip mid-way);
- the service day may be a holiday: ``trip_in_service`` (calendar and
  calendar_dates, from the caller) decides; a trip not running that day gets no
  run, and its vehicle's pings are still published (a vehicle without a run).

``ReplayClock`` maps trace time to wall time at ``speed``: timestamps are shifted to
the replay's start and compressed by ``speed``, and speeds are multiplied by it, so
that the replayed motion stays consistent (distance over time) for the matcher. It
also maps the trace's service days onto the replay's (``day_shift``): a run is
created for the replayed day, never for the recorded one, so that the feeds publish
it with a current ``start_date`` and its schedule is the one the replayed clock runs
against. ``replay_clock`` chooses both (see there).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from realtime_engine.replay.trace import TracePing
from realtime_engine.simulation.messages import position_fields
from realtime_engine.simulation.publishing import Fix
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import RunState
from runs.domain.telemetry.limits import SPEED_RANGE
from schedule_engine.service_days import service_day_origin


class EndReason(StrEnum):
    NEXT_TRIP = "vehicle_next_trip"  # the vehicle goes on to another trip
    HANDOVER = "trip_handover"  # another vehicle takes the trip over


class SkipReason(StrEnum):
    NOT_IN_SERVICE = "not_in_service"  # unknown trip, or its service does not run that day


@dataclass(frozen=True, slots=True)
class PlannedRun:
    key: str  # unique within a plan: vehicle/trip/first timestamp
    vehicle_id: str
    trip_id: str
    route_id: str
    direction_id: int | None
    start_date: dt.date
    start_time: str
    first_at: int  # trace time of its first and last ping
    last_at: int
    pings: int


@dataclass(frozen=True, slots=True)
class EndRun:
    at: int
    run: PlannedRun
    reason: EndReason


@dataclass(frozen=True, slots=True)
class StartRun:
    at: int
    run: PlannedRun


@dataclass(frozen=True, slots=True)
class Publish:
    at: int
    ping: TracePing


# The event that releases a run's claims, by the state it is in (final states hold none;
# No Signal has no such event: the tracking-expired scan ends it).
ENDING_EVENT: Mapping[RunState, RunEvent] = {
    RunState.REQUESTED: RunEvent.RUN_REJECTED,
    RunState.VALIDATED: RunEvent.RUN_REJECTED,
    RunState.INITIALIZED: RunEvent.RUN_REJECTED,
    RunState.CONFIRMED: RunEvent.CANCEL_RUN,
    RunState.TRACKING: RunEvent.CANCEL_RUN,
    RunState.IN_PROGRESS: RunEvent.RUN_INTERRUPTED,
}

Step = EndRun | StartRun | Publish
# At one instant: release claims, then create runs, then publish.
_STEP_ORDER = {EndRun: 0, StartRun: 1, Publish: 2}


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    steps: tuple[Step, ...]
    runs: tuple[PlannedRun, ...]
    vehicles: Mapping[str, str]  # vehicle id → label
    skipped: Mapping[str, SkipReason]  # trip id → why it gets no run

    @property
    def start_at(self) -> int:
        return self.steps[0].at if self.steps else 0

    @property
    def end_at(self) -> int:
        return self.steps[-1].at if self.steps else 0


def select_pings(
    pings: Iterable[TracePing], *, trips: frozenset[str] | None = None, limit: int | None = None
) -> list[TracePing]:
    """The pings to replay, in time order: only ``trips`` if given, the first ``limit``."""
    chosen = [p for p in pings if trips is None or p.trip_id in trips]
    chosen.sort(key=lambda p: (p.timestamp, p.vehicle_id))
    return chosen if limit is None else chosen[:limit]


def _stretches(pings: list[TracePing]) -> list[list[TracePing]]:
    """Each vehicle's pings cut where its trip changes; duplicates (same timestamp) dropped."""
    by_vehicle: dict[str, list[TracePing]] = defaultdict(list)
    for ping in pings:
        by_vehicle[ping.vehicle_id].append(ping)
    stretches = []
    for vehicle_pings in by_vehicle.values():
        vehicle_pings.sort(key=lambda p: p.timestamp)
        current: list[TracePing] = []
        for ping in vehicle_pings:
            if current and ping.timestamp == current[-1].timestamp:
                continue
            if current and ping.trip_id != current[-1].trip_id:
                stretches.append(current)
                current = []
            current.append(ping)
        if current:
            stretches.append(current)
    return stretches


def _planned_run(stretch: list[TracePing]) -> PlannedRun:
    first = stretch[0]
    return PlannedRun(
        key=f"{first.vehicle_id}/{first.trip_id}/{first.timestamp}",
        vehicle_id=first.vehicle_id,
        trip_id=first.trip_id,
        route_id=first.route_id,
        direction_id=first.direction_id,
        start_date=first.start_date,
        start_time=first.start_time,
        first_at=first.timestamp,
        last_at=stretch[-1].timestamp,
        pings=len(stretch),
    )


def plan_replay(
    pings: Iterable[TracePing],
    *,
    trip_in_service: Callable[[str, dt.date], bool] = lambda trip_id, day: True,
) -> ReplayPlan:
    pings = list(pings)
    steps: list[Step] = [Publish(p.timestamp, p) for p in pings]
    runs: list[PlannedRun] = []
    skipped: dict[str, SkipReason] = {}
    for stretch in _stretches(pings):
        first = stretch[0]
        if first.trip_id in skipped:
            continue
        if not trip_in_service(first.trip_id, first.start_date):
            skipped[first.trip_id] = SkipReason.NOT_IN_SERVICE
            continue
        runs.append(_planned_run(stretch))
    runs.sort(key=lambda r: (r.first_at, r.vehicle_id))

    ends: dict[str, EndRun] = {}  # run key → its earliest end

    def end(run: PlannedRun, at: int, reason: EndReason) -> None:
        if run.key not in ends or at < ends[run.key].at:
            ends[run.key] = EndRun(at, run, reason)

    holder_of_vehicle: dict[str, PlannedRun] = {}
    holder_of_trip: dict[str, PlannedRun] = {}
    for run in runs:
        previous = holder_of_vehicle.get(run.vehicle_id)
        if previous is not None:
            end(previous, run.first_at, EndReason.NEXT_TRIP)
        previous = holder_of_trip.get(run.trip_id)
        if previous is not None and previous.vehicle_id != run.vehicle_id:
            end(previous, run.first_at, EndReason.HANDOVER)
        holder_of_vehicle[run.vehicle_id] = run
        holder_of_trip[run.trip_id] = run
        steps.append(StartRun(run.first_at, run))
    steps.extend(ends.values())
    steps.sort(key=lambda s: (s.at, _STEP_ORDER[type(s)]))
    vehicles = {p.vehicle_id: p.label for p in pings}
    return ReplayPlan(tuple(steps), tuple(runs), vehicles, skipped)


@dataclass(frozen=True, slots=True)
class ReplayClock:
    """Trace time → wall time: ``trace_start`` happens at ``wall_start``, ``speed`` times faster;
    a trace service date → the replayed one, ``day_shift`` days later."""

    trace_start: int
    wall_start: float
    speed: float = 1.0
    day_shift: int = 0

    def wall_at(self, trace_at: float) -> float:
        return self.wall_start + (trace_at - self.trace_start) / self.speed

    def service_date(self, trace_date: dt.date) -> dt.date:
        """The service date a run of the trace's ``trace_date`` is replayed on."""
        return trace_date + dt.timedelta(days=self.day_shift)

    def fix(self, ping: TracePing) -> Fix:
        """A ping as the vehicle would report it now: in replay time, its speed scaled."""
        speed = None
        if ping.speed is not None:
            # Capped at the ingress bound: above it the whole position would be dead-lettered
            # (a fast replay multiplies every speed), and the matcher reads speeds only near
            # standstill.
            speed = min(ping.speed * self.speed, SPEED_RANGE[1])
        return Fix(
            latitude=ping.latitude,
            longitude=ping.longitude,
            timestamp=round(self.wall_at(ping.timestamp)),
            bearing=ping.bearing,
            speed_mps=speed,
        )

    def payload(self, ping: TracePing) -> dict[str, float | int]:
        """The position message of a ping (DESIGN.md ingress contract), in replay time."""
        return position_fields(self.fix(ping))


def replay_clock(
    plan: ReplayPlan, now: float, *, start_now: bool, speed: float, tz: ZoneInfo
) -> ReplayClock:
    """The replay's clock, the trace's service day mapped onto today's (agency time zone ``tz``).

    Without ``start_now`` the replay waits for the trace start's local time of day (today,
    or tomorrow once it has passed): the trace moves by whole service days, its runs get
    that day's date, and at speed 1 every ping comes exactly when the recorded bus was
    there relative to its schedule.

    With ``start_now`` it starts at once; its runs get today's date, or yesterday's while
    the replay would put a bus ahead of where the trace had it on its schedule (before
    its time of day today; at ``speed`` above 1 the end of the trace comes early). The
    map-matcher holds a bus that is early pre-trip, so a replayed run is late by the
    difference in time of day, never early.
    """
    trace_day = _trace_service_day(plan, tz)
    origin = service_day_origin(trace_day, tz).timestamp()
    if start_now:
        # The last ping must not come before its own time of day on the replayed day.
        last_offset = plan.end_at - origin
        lead = (plan.end_at - plan.start_at) / speed
        day = dt.datetime.fromtimestamp(now, tz).date() + dt.timedelta(days=1)
        while service_day_origin(day, tz).timestamp() + last_offset - lead > now:
            day -= dt.timedelta(days=1)
        return ReplayClock(plan.start_at, now, speed, (day - trace_day).days)
    first_offset = plan.start_at - origin
    day = dt.datetime.fromtimestamp(now, tz).date() - dt.timedelta(days=1)
    while (wall_start := service_day_origin(day, tz).timestamp() + first_offset) < now:
        day += dt.timedelta(days=1)
    return ReplayClock(plan.start_at, wall_start, speed, (day - trace_day).days)


def _trace_service_day(plan: ReplayPlan, tz: ZoneInfo) -> dt.date:
    """The trace's service day: its first run's, else the local date it starts on."""
    if plan.runs:
        return min(run.start_date for run in plan.runs)
    return dt.datetime.fromtimestamp(plan.start_at, tz).date()
