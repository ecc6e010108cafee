"""A PostgreSQL restart under load: matching and detectors resume by themselves.

A real `celery worker` (MQTT ingest bootstep, detector dispatch, lifecycle tasks) runs
against a private PostgreSQL cluster, which the test restarts (`pg_ctl restart -m
fast`) while a vehicle pings. The worker is never restarted: after the restart its
ingest thread must match positions again (stop events, stop status) and its detectors
must move the run through the lifecycle (Celery tasks included).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import DatabaseError, close_old_connections, connections

from databus import keys
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.models import StopEvent
from runs.domain.lifecycle.states import RunState
from runs.models import Company, Operator, Run, Vehicle
from runs.services.actors import DISPATCHER_GROUP, OPERATOR_GROUP, actor_for_user
from runs.tests.fixtures.feed import TIMEZONE, gtfs_time, write_feed
from runs.tests.fixtures.people import make_user
from runs.tests.fixtures.runs import walk_to
from runs.tests.test_end_to_end import SUBSCRIBED, Pinger
from schedule_engine.services import feed_import
from tests.support.processes import PrivatePostgres, start_postgres, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# After the restart, each step must happen within this (the detectors' own pace is ~1 s).
RESUME_WITHIN_S = 15


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = start_postgres()
    cluster.create_database("databus")
    yield cluster
    cluster.remove()


@contextmanager
def django_on(cluster: PrivatePostgres, name: str) -> Iterator[None]:
    """Point this process's default connection at ``name`` on ``cluster``, then back."""
    params = connections["default"].settings_dict
    saved = {key: params[key] for key in ("HOST", "PORT", "NAME", "USER", "PASSWORD")}
    connections.close_all()
    params.update(HOST="127.0.0.1", PORT=str(cluster.port), NAME=name, USER="postgres")
    params["PASSWORD"] = ""
    try:
        yield
    finally:
        connections.close_all()
        params.update(saved)


def answered(query: Callable[[], bool]) -> bool:
    """``query()``, False while this process's own connection is down or being reopened."""
    close_old_connections()
    try:
        return query()
    except DatabaseError:
        return False


def confirmed_run_departing_now(tmp_path, redis_client) -> Run:
    """The tiny feed with T1 due a minute ago, and a run on it walked to Confirmed."""
    start = dt.datetime.now(ZoneInfo(TIMEZONE)) - dt.timedelta(minutes=1)
    departures = {"T1": start.hour * 60 + start.minute, "T2": 23 * 60 + 59}
    feed_import(path=write_feed(tmp_path / "gtfs", departures), name="pg-restart", activate=True)
    company = Company.objects.create(name="Test Transit")
    vehicle = Vehicle.objects.create(id="V1", label="Bus 1", company=company)
    operator = Operator.objects.create(user=make_user("driver", OPERATOR_GROUP), company=company)
    run = Run.objects.create(
        vehicle=vehicle,
        operator=operator,
        route_id="R1",
        trip_id="T1",
        shape_id="SH1",
        direction_id=0,
        start_date=start.date(),
        start_time=gtfs_time(departures["T1"]),
    )
    dispatcher = actor_for_user(make_user("dispatch", DISPATCHER_GROUP))
    return walk_to(redis_client, run, RunState.CONFIRMED, dispatcher)


def test_matching_and_detectors_resume_after_a_postgres_restart_without_a_worker_restart(
    private_postgres,
    process_env,
    celery_worker_factory,
    private_broker,
    topic_root,
    redis_client,
    tmp_path,
):
    with django_on(private_postgres, "databus"):
        call_command("migrate", verbosity=0)
        run = confirmed_run_departing_now(tmp_path, redis_client)
        run_id = run.pk
        env = {
            **process_env,
            "DATABASE_URL": private_postgres.database_url("databus"),
            "MQTT_URL": private_broker,
            "MQTT_CONSUMER_ENABLED": "true",
        }
        worker = celery_worker_factory(env)
        pinger = Pinger(private_broker, vehicle_topic(topic_root, "V1", TelemetryLeaf.POSITION))

        def state_is(expected: str) -> bool:
            return answered(lambda: Run.objects.get(pk=run_id).run_lifecycle_state == expected)

        def stop_recorded(stop_id: str) -> bool:
            return answered(
                lambda: StopEvent.objects.filter(run_id=run_id, stop_id=stop_id).exists()
            )

        def stop_status_past_s2() -> bool:
            status = redis_client.hgetall(keys.run_vehicle_stop_status(str(run_id)))
            return status.get("stop_id") in {"S3", "S4"}

        try:
            wait_for(lambda: SUBSCRIBED in worker.log(), 60, "the MQTT consumer subscribed")
            pinger.send(stop=0, speed=0.0)
            wait_for(lambda: state_is("Tracking"), 30, "Tracking before the restart", 0.2)

            import os

            if not os.environ.get("NORESTART"):
                private_postgres.restart("fast")
            assert worker.process.poll() is None

            pinger.send(stop=1, speed=6.0)
            wait_for(
                lambda: state_is("In Progress"),
                RESUME_WITHIN_S,
                "a detector's transition (run_started) after the restart",
                0.2,
            )
            pinger.send(stop=2, speed=6.0)
            wait_for(
                lambda: stop_recorded("S2"),
                RESUME_WITHIN_S,
                "the stop event of S2, passed after the restart",
                0.2,
            )
            wait_for(
                stop_status_past_s2,
                RESUME_WITHIN_S,
                "the stop status moving on after the restart",
                0.2,
            )
            pinger.send(stop=3, speed=0.0)
            wait_for(
                lambda: state_is("Completed"),
                RESUME_WITHIN_S,
                "run_completed after the restart",
                0.2,
            )
            assert worker.process.poll() is None, "the worker was not restarted"
        except Exception:
            print(
                "DEBUG events",
                list(StopEvent.objects.filter(run_id=run_id).values_list("stop_id", "source")),
            )
            print("DEBUG prog", redis_client.hgetall(keys.run_progression(str(run_id))))
            print("DEBUG status", redis_client.hgetall(keys.run_vehicle_stop_status(str(run_id))))
            print("DEBUG state", Run.objects.get(pk=run_id).run_lifecycle_state)
            print(worker.log()[-20_000:])
            raise
        finally:
            pinger.close()
            worker.stop()
