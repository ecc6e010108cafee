"""``manage.py simulate [--vehicles 20] [--speedup 1] [--faults stale,malformed,out_of_bounds]
[--duration S] [--seed SEED] [--ingress mqtt|streams] [--stream KEY] [--stream-maxlen N]``:
the fleet simulator.

Drives simulated buses along trips of the current feed, publishing once per simulated
second, with runs created and confirmed through the lifecycle service (actor: the
``simulator`` dispatcher user): over MQTT (the default), position and occupancy to the
broker at ``MQTT_URL`` under ``MQTT_TOPIC_ROOT``; with ``--ingress streams``, positions
as AVL gateway records XADDed to a Redis Stream (``simulation.ingress``), no occupancy,
and only the ``stale`` fault (the others are MQTT payloads). Stops cleanly on SIGINT /
SIGTERM or after ``--duration`` wall seconds. The work is in ``realtime_engine.simulation``.
"""

from __future__ import annotations

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime_engine.simulation.clock import SimulationClock
from realtime_engine.simulation.faults import PAYLOADS_OF, fault_kinds_parse, fault_plan
from realtime_engine.simulation.ingress import (
    Ingress,
    IngressChoice,
    add_ingress_arguments,
    publisher_open,
)
from realtime_engine.simulation.runner import (
    FleetSimulator,
    SimulationError,
    fleet_prepare,
    fleet_release,
)

# The silent vehicle of the ``stale`` fault stays silent this much longer than it takes
# the server to notice (stale threshold + one scan), so that its run does go No Signal.
STALE_MARGIN_S = 5.0


class Command(BaseCommand):
    help = (
        "Simulate a fleet driving trips of the current feed, publishing telemetry over MQTT"
        " or, with --ingress streams, as AVL gateway records to a Redis Stream."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--vehicles", type=int, default=20)
        parser.add_argument(
            "--speedup", type=float, default=1.0, help="simulated seconds per wall second"
        )
        parser.add_argument(
            "--faults", default="", help="comma-separated: stale, malformed, out_of_bounds"
        )
        parser.add_argument("--duration", type=float, help="stop after this many wall seconds")
        parser.add_argument("--seed", default="databus", help="same seed, same simulation")
        add_ingress_arguments(parser)

    def handle(
        self, *args, vehicles: int, speedup: float, faults: str, duration, seed: str, **options
    ) -> None:
        if vehicles < 1:
            raise CommandError("--vehicles must be at least 1")
        if speedup <= 0:
            raise CommandError("--speedup must be positive")
        try:
            kinds = fault_kinds_parse(faults)
        except ValueError as error:
            raise CommandError(str(error)) from error
        ingress = IngressChoice.from_options(options)
        if ingress.ingress is Ingress.STREAMS and kinds & PAYLOADS_OF.keys():
            raise CommandError(
                "--faults malformed and out_of_bounds send MQTT payloads: use --ingress mqtt"
            )
        actor, fleet = fleet_prepare(vehicles)
        released = fleet_release(fleet, actor)
        if released:
            self.stdout.write(f"released {released} runs left by a previous simulation")
        clock = SimulationClock(wall_start=time.time(), speedup=speedup)
        stale_gap_s = clock.sim_duration(
            settings.RUN_STALE_AFTER_S + settings.RUN_SCAN_INTERVAL_S + STALE_MARGIN_S
        )
        plan = fault_plan(kinds, [v.vehicle_id for v in fleet], seed=seed, stale_gap_s=stale_gap_s)
        publisher = publisher_open(
            ingress, vehicle_ids=[v.vehicle_id for v in fleet], name="simulator"
        )
        simulator = FleetSimulator(fleet, actor, publisher, clock, plan, seed=seed, say=self._say)

        def stop(signum, _frame) -> None:
            simulator.stopping.set()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        faults_text = ", ".join(sorted(kinds)) or "none"
        self._say(
            f"simulating {vehicles} vehicles at speed-up {speedup:g} (faults: {faults_text})"
            f" to {ingress.describe()}"
        )
        try:
            until = clock.wall_start + duration if duration is not None else None
            report = simulator.run(until=until)
        except SimulationError as error:
            raise CommandError(str(error)) from error
        finally:
            unsent = publisher.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        refused = ", ".join(f"{k}: {v}" for k, v in sorted(report.refused.items())) or "none"
        self._say(
            f"stopped: {publisher.published} messages published ({unsent} undelivered),"
            f" runs started {report.runs_started}, completed {report.runs_completed}"
            f" ({report.runs_completed_early} before reaching the terminal),"
            f" ended otherwise {report.runs_ended_otherwise}, released {report.runs_released},"
            f" fault payloads {report.injected}, refused {refused}"
        )

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
