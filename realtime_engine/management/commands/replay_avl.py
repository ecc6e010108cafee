"""``manage.py replay_avl CSV [--speed 30] [--start-now] [--limit N] [--trips T1,T2]
[--ingress mqtt|streams] [--stream KEY] [--stream-maxlen N]``.

Publishes a recorded AVL trace (the column format of ``../shared/fixtures/wmata/avl.csv``)
as positions with timestamps shifted to the replay's start: to the broker at ``MQTT_URL``
under ``MQTT_TOPIC_ROOT`` (the default), or with ``--ingress streams`` as AVL gateway
records XADDed to a Redis Stream under each vehicle's tracker IMEI
(``realtime_engine.simulation.ingress``); it creates the vehicles, their replay
operators and the runs the trace needs (confirmed through the lifecycle service), on
the replayed service day, not the recorded one (``plan.replay_clock``).
Planning is ``realtime_engine.replay.plan`` (pure); this command only wires it up.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError

from realtime_engine.replay.plan import plan_replay, replay_clock, select_pings
from realtime_engine.replay.runner import PUBLISH_TIMEOUT_S, ReplayRunner, replay_prepare
from realtime_engine.replay.trace import TraceError, read_trace
from realtime_engine.simulation.ingress import IngressChoice, add_ingress_arguments, publisher_open
from schedule_engine.models import Trip
from schedule_engine.selectors import current_feed_get, services_on


def trip_service_check(trip_ids: set[str]):
    """``(trip_id, day) -> bool`` over the current feed: calendar.txt and calendar_dates.txt."""
    feed = current_feed_get()
    if feed is None:
        raise CommandError("no current GTFS feed: import one with import_gtfs --activate")
    service_of = dict(
        Trip.objects.filter(feed=feed, trip_id__in=trip_ids).values_list("trip_id", "service_id")
    )
    active: dict = {}

    def in_service(trip_id: str, day) -> bool:
        if day not in active:
            active[day] = services_on(feed=feed, date=day)
        return service_of.get(trip_id) in active[day]

    return in_service


class Command(BaseCommand):
    help = (
        "Replay a recorded AVL trace (CSV) over MQTT or, with --ingress streams, as AVL"
        " gateway records to a Redis Stream, with runs for its trips."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("csv", type=Path)
        parser.add_argument("--speed", type=float, default=1.0, help="times real time")
        parser.add_argument(
            "--start-now",
            action="store_true",
            help="start at once (default: wait for the time of day the trace starts at)",
        )
        parser.add_argument("--limit", type=int, help="replay only the first N pings")
        parser.add_argument("--trips", help="comma-separated trip ids to replay")
        add_ingress_arguments(parser)

    def handle(self, *args, csv: Path, speed: float, start_now: bool, limit, trips, **options):
        if speed <= 0:
            raise CommandError("--speed must be positive")
        ingress = IngressChoice.from_options(options)
        try:
            pings = read_trace(csv)
        except (OSError, TraceError) as error:
            raise CommandError(f"{csv}: {error}") from error
        chosen = select_pings(
            pings, trips=frozenset(trips.split(",")) if trips else None, limit=limit
        )
        if not chosen:
            raise CommandError("nothing to replay")
        plan = plan_replay(chosen, trip_in_service=trip_service_check({p.trip_id for p in chosen}))
        for trip_id, reason in sorted(plan.skipped.items()):
            self.stderr.write(f"trip {trip_id}: no run ({reason})")
        actors = replay_prepare(plan)
        clock = replay_clock(
            plan,
            time.time(),
            start_now=start_now,
            speed=speed,
            tz=ZoneInfo(current_feed_get().timezone),
        )
        trace_day = min((run.start_date for run in plan.runs), default=None)
        self.stdout.write(
            f"replaying {len(chosen)} pings, {len(plan.runs)} runs, {len(plan.vehicles)} vehicles"
            f" over {(plan.end_at - plan.start_at) / speed:.0f} s"
            f" to {ingress.describe()}"
        )
        if trace_day is not None:
            self.stdout.write(
                f"service day {trace_day} replayed as {clock.service_date(trace_day)},"
                f" starting {dt.datetime.fromtimestamp(clock.wall_start).astimezone():%H:%M:%S %Z}"
            )
        publisher = publisher_open(
            ingress, vehicle_ids=plan.vehicles, name="replay", close_timeout_s=PUBLISH_TIMEOUT_S
        )
        try:
            report = ReplayRunner(plan, clock, publisher, actors).run()
        finally:
            publisher.close()
        refused = ", ".join(f"{k}: {v}" for k, v in sorted(report.refused.items())) or "none"
        self.stdout.write(
            f"published {report.published}, runs started {report.runs_started},"
            f" ended {report.runs_ended}, refused {refused}"
        )
