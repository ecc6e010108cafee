"""The Redis record of the periodic work: each periodic task's runs, and beat's heartbeat.

Contract of ``keys.task_record`` / ``keys.task_failures`` (written by
``databus.task_metrics``'s Celery signal handlers, in whichever process runs the task) and
of ``keys.BEAT_HEARTBEAT`` (written by ``databus.beat_scheduler`` every tick). Readers in
any process (``/readyz``, ``/metrics``, the operators' status page) see them through
``task_records_get`` and ``beat_status_get``: one round trip each, nothing raised for a
record that does not exist yet. Numbers are stored as text; a field that does not parse
reads as absent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field

import redis
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from databus import keys

# keys.task_record fields.
LAST_RUN_AT = "last_run_at"
LAST_SUCCESS_AT = "last_success_at"
LAST_DURATION_S = "last_duration_s"
LAST_STATE = "last_state"
LAST_ERROR = "last_error"
RUNS = "runs"
FAILURES = "failures"
FIELDS = (LAST_RUN_AT, LAST_SUCCESS_AT, LAST_DURATION_S, LAST_STATE, LAST_ERROR, RUNS, FAILURES)

# keys.BEAT_HEARTBEAT fields.
HEARTBEAT_AT = "at"
HEARTBEAT_IDENTITY = "identity"
HEARTBEAT_INTERVAL_S = "interval_s"
HEARTBEAT_FIELDS = (HEARTBEAT_AT, HEARTBEAT_IDENTITY, HEARTBEAT_INTERVAL_S)

# Recent failures kept per task (keys.task_failures), and of each error message.
RECENT_FAILURES = 20
MESSAGE_CHARS = 200
# Beat is missing once its heartbeat is older than this many heartbeat intervals.
BEAT_STALE_AFTER_INTERVALS = 2


@dataclass(frozen=True)
class PeriodicTask:
    entry: str  # the beat schedule's entry name
    task: str
    interval_s: float
    setting: str


@dataclass(frozen=True)
class TaskFailure:
    at: float
    error: str  # exception class name
    message: str
    task_id: str


@dataclass(frozen=True)
class TaskRecord:
    entry: str
    task: str
    interval_s: float
    setting: str
    last_run_at: float | None = None
    last_success_at: float | None = None
    last_duration_s: float | None = None
    last_state: str | None = None
    last_error: str | None = None
    runs: int = 0
    failures: int = 0
    recent_failures: list[TaskFailure] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BeatStatus:
    at: float | None  # None: no beat ever ticked (since Redis kept data)
    identity: str | None
    interval_s: float
    lock_holder: str | None
    stale: bool

    def as_dict(self) -> dict:
        return asdict(self)


def periodic_tasks() -> list[PeriodicTask]:
    """Every entry of beat's schedule, in its order."""
    # Imported here: the schedule reads settings, and this module is imported while
    # backend.settings is still loading (databus.celery connects the signal handlers).
    from databus.beat import BEAT_SCHEDULE, INTERVAL_SETTINGS

    return [
        PeriodicTask(
            name, entry["task"], float(entry["schedule"]), INTERVAL_SETTINGS.get(entry["task"], "")
        )
        for name, entry in BEAT_SCHEDULE.items()
    ]


def periodic_task_names() -> frozenset[str]:
    return frozenset(task.task for task in periodic_tasks())


# -- writing (databus.task_metrics's signal handlers) ---------------------------------------


def record_run(
    pipe: redis.client.Pipeline,
    task: str,
    *,
    finished_at: float,
    duration_s: float,
    state: str,
    error: BaseException | None,
    task_id: str,
) -> None:
    """Queue on ``pipe`` the record of one finished run of a periodic task."""
    key = keys.task_record(task)
    mapping = {LAST_RUN_AT: finished_at, LAST_DURATION_S: round(duration_s, 6), LAST_STATE: state}
    if state == "SUCCESS":
        mapping[LAST_SUCCESS_AT] = finished_at
    pipe.hset(key, mapping=mapping)
    pipe.hincrby(key, RUNS, 1)
    if state == "FAILURE":
        error_name = type(error).__name__ if error is not None else "Unknown"
        pipe.hset(key, LAST_ERROR, error_name)
        pipe.hincrby(key, FAILURES, 1)
        failure = TaskFailure(finished_at, error_name, str(error or "")[:MESSAGE_CHARS], task_id)
        pipe.lpush(keys.task_failures(task), json.dumps(asdict(failure)))
        pipe.ltrim(keys.task_failures(task), 0, RECENT_FAILURES - 1)


def heartbeat_set(client: redis.Redis, *, at: float, identity: str, interval_s: float) -> None:
    client.hset(
        keys.BEAT_HEARTBEAT,
        mapping={HEARTBEAT_AT: at, HEARTBEAT_IDENTITY: identity, HEARTBEAT_INTERVAL_S: interval_s},
    )


# -- reading ---------------------------------------------------------------------------------


def task_records_get(client: redis.Redis) -> list[TaskRecord]:
    """Every periodic task's record, in beat's order (empty fields before its first run)."""
    tasks = periodic_tasks()
    pipe = client.pipeline(transaction=False)
    for task in tasks:
        pipe.hmget(keys.task_record(task.task), FIELDS)
        pipe.lrange(keys.task_failures(task.task), 0, RECENT_FAILURES - 1)
    answers = pipe.execute()
    return [
        _record(task, dict(zip(FIELDS, values, strict=True)), failures)
        for task, values, failures in zip(tasks, answers[::2], answers[1::2], strict=True)
    ]


def beat_status_get(client: redis.Redis, now: float) -> BeatStatus:
    """The scheduling beat's last heartbeat and the lock's holder."""
    pipe = client.pipeline(transaction=False)
    pipe.hmget(keys.BEAT_HEARTBEAT, HEARTBEAT_FIELDS)
    pipe.get(keys.BEAT_LOCK)
    (at, identity, interval_s), holder = pipe.execute()
    return beat_status(_float(at), identity, _float(interval_s), holder, now)


def beat_status(
    at: float | None, identity: str | None, interval_s: float | None, holder: str | None, now: float
) -> BeatStatus:
    """Judge a heartbeat: stale once older than two intervals (the configured interval when
    the heartbeat does not say, or says a shorter one). Pure."""
    interval = max(interval_s or 0.0, float(settings.BEAT_HEARTBEAT_INTERVAL_S))
    stale = at is not None and now - at > BEAT_STALE_AFTER_INTERVALS * interval
    return BeatStatus(at, identity, interval, holder, stale)


def _record(
    task: PeriodicTask, fields: Mapping[str, str | None], failures: list[str]
) -> TaskRecord:
    return TaskRecord(
        entry=task.entry,
        task=task.task,
        interval_s=task.interval_s,
        setting=task.setting,
        last_run_at=_float(fields[LAST_RUN_AT]),
        last_success_at=_float(fields[LAST_SUCCESS_AT]),
        last_duration_s=_float(fields[LAST_DURATION_S]),
        last_state=fields[LAST_STATE],
        last_error=fields[LAST_ERROR],
        runs=int(_float(fields[RUNS]) or 0),
        failures=int(_float(fields[FAILURES]) or 0),
        recent_failures=[f for f in map(_failure, failures) if f is not None],
    )


def _failure(text: str) -> TaskFailure | None:
    try:
        data = json.loads(text)
        return TaskFailure(
            float(data["at"]), str(data["error"]), str(data["message"]), str(data["task_id"])
        )
    except (ValueError, TypeError, KeyError):
        return None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


class PeriodicWorkCollector(Collector):
    """The periodic tasks' last run and success and beat's heartbeat, read from Redis at
    scrape time (fleet-wide: every process that exports it shows the same values)."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from _families()  # without samples: registering never touches Redis

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from databus.redis import get_redis

        last_success, last_run, interval, heartbeat, heartbeat_interval = _families()
        try:
            client = get_redis()
            records = task_records_get(client)
            beat = beat_status_get(client, time.time())
        except redis.RedisError:
            return  # Redis down is /readyz's to report; /metrics still answers
        for record in records:
            interval.add_metric([record.task], record.interval_s)
            if record.last_success_at is not None:
                last_success.add_metric([record.task], record.last_success_at)
            if record.last_run_at is not None:
                last_run.add_metric([record.task], record.last_run_at)
        if beat.at is not None:
            heartbeat.add_metric([], beat.at)
        heartbeat_interval.add_metric([], beat.interval_s)
        yield from (last_success, last_run, interval, heartbeat, heartbeat_interval)


def _families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "databus_task_last_success_timestamp_seconds",
            "When a periodic task last succeeded (epoch s).",
            labels=["task"],
        ),
        GaugeMetricFamily(
            "databus_task_last_run_timestamp_seconds",
            "When a periodic task's last run finished, whatever its outcome (epoch s).",
            labels=["task"],
        ),
        GaugeMetricFamily(
            "databus_task_interval_seconds", "A periodic task's beat interval.", labels=["task"]
        ),
        GaugeMetricFamily(
            "databus_beat_heartbeat_timestamp_seconds",
            "When the scheduling beat last ticked (epoch s).",
        ),
        GaugeMetricFamily(
            "databus_beat_heartbeat_interval_seconds",
            "How often beat ticks at least (BEAT_HEARTBEAT_INTERVAL_S).",
        ),
    )
