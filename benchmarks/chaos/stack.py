"""The whole databus system on private services, for `make chaos` and `make soak` to break.

``Stack`` starts a PostgreSQL cluster (``tests.support.processes.start_postgres``), a
Redis run as production runs it (no persistence: a restart comes back empty) and a
Mosquitto with the shipped ``deploy/mosquitto/mosquitto.conf`` (its persistence
included), all on free loopback ports under one work folder; migrates the database
and imports the demo network pinned to its weekday morning peak (so the simulator's
buses have trips under way whatever the hour); then starts realtime-engine workers
(``MQTT_CONSUMER_ENABLED=true``, ``MQTT_SHARED_GROUP``), beat, the fleet simulator
and the paced load publisher as child processes, each with its log in the folder.
Every process is started, signalled and stopped by its own handle: nothing is found
by name. The harness process itself is pointed at the same services
(``Stack.point_django_here`` before ``django.setup()``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import (
    ManagedProcess,
    PrivatePostgres,
    free_port,
    start_celery_beat,
    start_celery_worker,
    start_mosquitto,
    start_postgres,
    start_redis,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "databus_chaos"
SHARED_GROUP = "databus"
SUBSCRIBED = "MQTT ingest subscribed"
# Redis databases as backend/settings.py lays them out by default.
REDIS_DATABASES = {"REDIS_URL": 0, "CELERY_BROKER_URL": 1, "CHANNEL_REDIS_URL": 2}


@dataclass
class StackOptions:
    simulated_vehicles: int = 10
    speedup: float = 2.0
    feed_build_interval_s: int = 5
    topic_root: str = "transit"
    extra_env: dict[str, str] = field(default_factory=dict)


class Stack:
    def __init__(self, workdir: Path, options: StackOptions) -> None:
        self.workdir, self.options = workdir, options
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o755)  # the postgres user must reach its cluster inside
        self.redis: ManagedProcess | None = None
        self.broker: ManagedProcess | None = None
        self.postgres: PrivatePostgres | None = None
        self.redis_port = free_port()
        self.mqtt_port = free_port()
        self.workers: dict[str, ManagedProcess] = {}
        self.beats: dict[str, ManagedProcess] = {}
        self.others: dict[str, ManagedProcess] = {}
        self._subscribed_before: dict[str, int] = {}

    # ----- services -------------------------------------------------------------------------

    def start_services(self) -> None:
        self.postgres = start_postgres(self.workdir / "postgres")
        self.postgres.create_database(DATABASE)
        self.start_redis()
        self.start_broker()

    def start_redis(self) -> None:
        self.redis, _ = start_redis(self.workdir / "redis", port=self.redis_port)

    def start_broker(self) -> None:
        self.broker, _ = start_mosquitto(self.workdir / "mosquitto", port=self.mqtt_port)

    @property
    def env(self) -> dict[str, str]:
        """The environment every databus process of the stack runs with."""
        redis_urls = {
            name: f"redis://127.0.0.1:{self.redis_port}/{db}"
            for name, db in REDIS_DATABASES.items()
        }
        build_s = self.options.feed_build_interval_s
        return {
            **os.environ,
            **redis_urls,
            "DATABASE_URL": self.postgres.database_url(DATABASE),
            "MQTT_URL": f"mqtt://127.0.0.1:{self.mqtt_port}",
            "MQTT_TOPIC_ROOT": self.options.topic_root,
            "MQTT_SHARED_GROUP": SHARED_GROUP,
            "FEED_BUILD_INTERVAL_S": str(build_s),
            # Speeds are reported k times faster at speed-up k (docs/operations.md).
            "PROGRESSION_MAX_SPEED_MPS": str(30 * self.options.speedup),
            "WORKER_METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            **self.options.extra_env,
        }

    def point_django_here(self) -> None:
        """Point this process (before ``django.setup()``) at the stack's services."""
        env = self.env
        for name in (*REDIS_DATABASES, "DATABASE_URL", "MQTT_URL", "MQTT_TOPIC_ROOT"):
            os.environ[name] = env[name]
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
        os.environ.setdefault("LOG_LEVEL", "WARNING")

    def prepare_database(self) -> None:
        """Migrate and import the demo network pinned to its weekday morning peak."""
        from django.core.management import call_command

        from realtime_engine.tests.test_simulation_fleet import demo_feed_at_peak

        call_command("migrate", "--noinput", verbosity=0)
        folder = demo_feed_at_peak(self.workdir / "gtfs", dt.datetime.now(dt.UTC))
        with open(os.devnull, "w") as quiet:
            call_command("import_gtfs", str(folder), "--activate", "--name", "chaos", stdout=quiet)

    def register_load_vehicles(self, prefix: str, vehicles: int) -> None:
        """Register the paced load's vehicles, as an agency registers its fleet: ingest trusts
        registered vehicles only. Before the workers start, so that their first registry
        load has them (a vehicle registered later waits up to a second for a reload)."""
        from benchmarks.chaos.load import vehicle_id
        from tests.support.vehicles import register_vehicles

        register_vehicles(vehicle_id(prefix, index) for index in range(vehicles))

    # ----- databus processes ----------------------------------------------------------------

    def start_worker(self, name: str, *, metrics_port: int = 0) -> ManagedProcess:
        """A realtime-engine worker in replica slot ``name``: a name used before resumes
        that slot's MQTT session, as a replaced container does. ``metrics_port``: where it
        exports its metrics (0: nowhere)."""
        env = {
            **self.env,
            "MQTT_CONSUMER_ENABLED": "true",
            "INGEST_REPLICA_SLOT": name,
            "WORKER_METRICS_PORT": str(metrics_port),
        }
        previous = self.workers.get(name)
        self._subscribed_before[name] = _count_in_log(previous, SUBSCRIBED) if previous else 0
        worker = start_celery_worker(env, self.workdir / "logs", name=name)
        self.workers[name] = worker
        return worker

    def wait_subscribed(self, name: str, timeout: float = 90) -> None:
        worker = self.workers[name]
        before = self._subscribed_before.get(name, 0)
        wait_for(
            lambda: _count_in_log(worker, SUBSCRIBED) > before or worker.process.poll() is not None,
            timeout,
            f"worker {name} subscribed",
            interval=0.2,
        )

    def start_beat(self, name: str) -> ManagedProcess:
        self.beats[name] = start_celery_beat(self.env, self.workdir / "logs", name=name)
        return self.beats[name]

    def start_simulator(self) -> ManagedProcess:
        logdir = self.workdir / "logs"
        log_path = logdir / "simulator.log"
        command = [
            sys.executable,
            "manage.py",
            "simulate",
            "--vehicles",
            str(self.options.simulated_vehicles),
            "--speedup",
            str(self.options.speedup),
        ]
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.others["simulator"] = ManagedProcess(process, log_path)
        return self.others["simulator"]

    def start_load(self, prefix: str, vehicles: int, ack_log: Path | None) -> ManagedProcess:
        from benchmarks.chaos.load import start_load

        log_path = self.workdir / "logs" / "load.log"
        process = start_load(
            self.mqtt_port, self.options.topic_root, prefix, vehicles, ack_log, log_path
        )
        self.others["load"] = ManagedProcess(process, log_path)
        return self.others["load"]

    def start_web(self, port: int) -> ManagedProcess:
        from tests.support.processes import uvicorn_command

        log_path = self.workdir / "logs" / "web.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                uvicorn_command(port, graceful_shutdown_s=2),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.others["web"] = ManagedProcess(process, log_path)
        return self.others["web"]

    def manage(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """``manage.py …`` against the stack, as an operator would run it; output captured."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    # ----- faults ---------------------------------------------------------------------------

    def restart_broker(self, sig: int) -> None:
        """Stop the broker with ``sig`` (SIGTERM saves its persistence, SIGKILL does not)."""
        self.broker.stop(sig)
        self.start_broker()

    def restart_redis_empty(self) -> None:
        """Stop Redis (no save points, no AOF: it comes back empty) and start it again."""
        self.redis.stop(signal.SIGTERM)
        self.start_redis()

    def restart_postgres(self) -> None:
        self.postgres.restart("fast")

    # ----- teardown -------------------------------------------------------------------------

    def close(self) -> None:
        for handle in (*self.others.values(), *self.beats.values(), *self.workers.values()):
            with contextlib.suppress(Exception):
                handle.stop(timeout=30)
        for handle in (self.broker, self.redis):
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.stop()
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.stop("immediate")


def _count_in_log(handle: ManagedProcess, text: str) -> int:
    return handle.log().count(text)


def new_topic_root() -> str:
    return f"chaos-{uuid.uuid4().hex[:8]}"


def machine() -> str:
    """`date`, `nproc` and the CPU model, as the docs' tables name the machine."""
    from benchmarks.ingest import machine as cores_and_model

    return f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {cores_and_model()}"
