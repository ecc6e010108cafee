"""The fleet simulator and the AVL replay carry on across a restart of their broker (a private
Mosquitto, restarted on the same port): the simulator keeps ticking and no run is ended
because of it; the messages sent while the broker was away are resent and acknowledged, and
new ones reach subscribers."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection

from databus.env import parse_mqtt_url
from realtime_engine.ingest.topics import TelemetryLeaf
from realtime_engine.replay.runner import replay_publisher
from realtime_engine.simulation.clock import SimulationClock
from realtime_engine.simulation.faults import fault_plan
from realtime_engine.simulation.publisher import TelemetryPublisher
from realtime_engine.simulation.runner import FleetSimulator, fleet_prepare
from runs.domain.lifecycle.events import RunEvent
from runs.domain.lifecycle.states import CLAIMING_STATES
from runs.models import Run
from runs.services.actors import Actor
from runs.services.lifecycle import run_event_apply
from runs.tests.fixtures.feed import TIMEZONE, write_feed
from schedule_engine.testing import import_feed
from tests.support.processes import port_answers, start_mosquitto, wait_for

VEHICLES = 2


def received(port: int, topic: str, count: int) -> list[str]:
    """``count`` messages on ``topic``, as ``mosquitto_sub`` (another client) receives them."""
    command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic]
    result = subprocess.run(
        [*command, "-C", str(count), "-W", "15"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout.splitlines()


def simulator_on_a_feed_running_now(
    tmp_path, publisher: TelemetryPublisher
) -> tuple[Actor, FleetSimulator]:
    """A fleet of VEHICLES on a feed with one trip under way and one about to start."""
    now = dt.datetime.now(ZoneInfo(TIMEZONE))
    minutes = now.hour * 60 + now.minute
    import_feed(write_feed(tmp_path / "gtfs", {"T1": max(minutes - 1, 0), "T2": minutes + 1}))
    actor, fleet = fleet_prepare(VEHICLES)
    simulator = FleetSimulator(
        fleet,
        actor,
        publisher,
        SimulationClock(wall_start=time.time(), speedup=1.0),
        fault_plan(set(), [v.vehicle_id for v in fleet], seed="1", stale_gap_s=0),
        seed="1",
    )
    return actor, simulator


@pytest.mark.django_db(transaction=True)
def test_the_simulator_keeps_running_across_a_broker_restart(tmp_path, redis_client, topic_root):
    broker, port = start_mosquitto(tmp_path / "mosquitto")
    publisher = TelemetryPublisher(parse_mqtt_url(f"mqtt://127.0.0.1:{port}"), topic_root)
    _, simulator = simulator_on_a_feed_running_now(tmp_path, publisher)
    crashed: list[BaseException] = []

    def simulate() -> None:
        try:
            simulator.run()
        except BaseException as error:  # the test fails on it below
            crashed.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=simulate, name="simulator")
    thread.start()
    try:
        wait_for(lambda: publisher.acknowledged >= 8, 15, "first acknowledgements")
        claiming = {s.value for s in CLAIMING_STATES}
        runs = list(Run.objects.filter(run_lifecycle_state__in=claiming).values_list("pk"))
        assert len(runs) == VEHICLES

        broker.stop()
        sent_before = publisher.published
        wait_for(lambda: publisher.published >= sent_before + 4, 10, "ticks while away")
        broker, _ = start_mosquitto(tmp_path / "mosquitto", port=port)
        assert port_answers(port)

        after = received(port, f"{topic_root}/vehicle/+/position", 3)
        assert len(after) == 3, "no position reached a subscriber after the restart"
        # What was sent while the broker was away has been resent and acknowledged.
        assert publisher.wait_acknowledged(15), f"{publisher.unacknowledged} unacknowledged"
        assert publisher.reconnects >= 1
        assert thread.is_alive() and not crashed
        still = Run.objects.filter(pk__in=[pk for (pk,) in runs], run_lifecycle_state__in=claiming)
        assert still.count() == VEHICLES  # no run ended because of the restart
        assert simulator.report.runs_released == simulator.report.runs_ended_otherwise == 0
    finally:
        simulator.stopping.set()
        thread.join(timeout=30)
        publisher.close(timeout_s=5)
        broker.stop()
    assert not crashed, crashed


def test_the_replay_publisher_resends_what_it_sent_while_the_broker_was_away(tmp_path, topic_root):
    broker, port = start_mosquitto(tmp_path / "mosquitto")
    publisher = replay_publisher(parse_mqtt_url(f"mqtt://127.0.0.1:{port}"), topic_root)
    position = {"latitude": 38.9, "longitude": -77.0, "timestamp": int(time.time())}
    payload = json.dumps(position).encode()
    try:
        for _ in range(5):
            publisher.publish("bus-1", TelemetryLeaf.POSITION, payload)
        broker.stop()
        for _ in range(5):  # while away: kept, not an error
            publisher.publish("bus-1", TelemetryLeaf.POSITION, payload)
        broker, _ = start_mosquitto(tmp_path / "mosquitto", port=port)
        for _ in range(5):
            publisher.publish("bus-1", TelemetryLeaf.POSITION, payload)
    finally:
        unacknowledged = publisher.close()
        broker.stop()
    assert (publisher.published, unacknowledged) == (15, 0)


def terminate_other_backends() -> int:
    """End every other session on this database, as a PostgreSQL restart does to them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_simulator_sees_runs_end_after_its_database_connection_was_dropped(
    tmp_path, redis_client, topic_root
):
    publisher = TelemetryPublisher(parse_mqtt_url(settings.MQTT_URL), topic_root)
    actor, simulator = simulator_on_a_feed_running_now(tmp_path, publisher)
    thread = threading.Thread(target=lambda: (simulator.run(), connection.close()))
    thread.start()
    try:
        claiming = [s.value for s in CLAIMING_STATES]
        wait_for(
            lambda: Run.objects.filter(run_lifecycle_state__in=claiming).count() == VEHICLES,
            15,
            "the fleet's runs",
        )
        assert terminate_other_backends() >= 1  # the simulator's own connection among them
        run = Run.objects.filter(run_lifecycle_state__in=claiming).first()
        run_event_apply(run_id=run.pk, event=RunEvent.CANCEL_RUN, actor=actor)
        # The simulator checks run states every tick; it can only notice the cancellation
        # through a connection it opened again.
        wait_for(lambda: simulator.report.runs_ended_otherwise >= 1, 10, "the cancellation seen")
    finally:
        simulator.stopping.set()
        thread.join(timeout=30)
        publisher.close(timeout_s=5)
