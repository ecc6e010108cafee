"""Readiness probes: each one talks to a dependency for real and times the answer.

A probe returns a ``ProbeResult``; it never raises. ``READINESS_PROBES`` is the
ordered list `/readyz` runs. A stale feed and a missing beat fail it: with either, riders
get frozen data while every dependency answers (the Streams ingress's lag only warns).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import redis
from django.conf import settings
from django.db import connection

from databus.redis import get_redis
from databus.task_records import BEAT_STALE_AFTER_INTERVALS, beat_status_get
from realtime_engine.ingest.streams.group import group_state
from schedule_engine.feeds.metrics import freshness_report
from schedule_engine.feeds.store import feed_summaries_get


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float
    detail: str = ""
    # A warning is reported but does not make the process unready.
    warn_only: bool = False


def _timed(check: Callable[[], str]) -> ProbeResult:
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as error:  # a probe reports every failure as "not ready"
        return ProbeResult(False, _elapsed_ms(started), f"{type(error).__name__}: {error}")
    return ProbeResult(True, _elapsed_ms(started), detail)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def probe_postgres() -> ProbeResult:
    def check() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return f"{connection.settings_dict['HOST']}:{connection.settings_dict['PORT']}"

    result = _timed(check)
    if not result.ok:
        # Drop the broken connection so the next probe reconnects instead of reusing it.
        # Closing a dead socket may itself fail; the probe has already failed.
        with contextlib.suppress(Exception):
            connection.close()
    return result


def probe_redis() -> ProbeResult:
    def check() -> str:
        get_redis().ping()
        address = settings.REDIS_ADDRESS
        return f"{address.host}:{address.port}/{address.db}"

    return _timed(check)


def probe_mqtt(timeout_s: float = 2.0) -> ProbeResult:
    """Open an MQTT 5 session and wait for CONNACK: a listening socket alone is not a broker."""

    def check() -> str:
        address = settings.MQTT_ADDRESS
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"databus-readyz-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        if address.username:
            client.username_pw_set(address.username, address.password)
        if address.tls:
            client.tls_set()
        answers: list = []
        client.on_connect = lambda _c, _u, _f, reason_code, _p: answers.append(reason_code)
        client.connect(address.host, address.port, keepalive=10)
        try:
            deadline = time.monotonic() + timeout_s
            while not answers and time.monotonic() < deadline:
                client.loop(timeout=0.05)
        finally:
            client.disconnect()
        if not answers:
            raise TimeoutError(f"no CONNACK within {timeout_s}s")
        if answers[0].is_failure:
            raise ConnectionRefusedError(f"broker refused: {answers[0]}")
        return f"{address.host}:{address.port}"

    return _timed(check)


def probe_feed_age() -> ProbeResult:
    """Fail when a GTFS-RT feed is older than three build intervals (each named). A feed not
    built yet is no failure: before the first build there is nothing to be late with."""
    started = time.perf_counter()
    try:
        summaries = feed_summaries_get(get_redis())
    except redis.RedisError as error:  # the redis probe's failure, not reported twice
        return ProbeResult(True, _elapsed_ms(started), f"age unknown ({type(error).__name__})")
    stale, missing = freshness_report(summaries, time.time())
    detail = "; ".join(stale + missing) or "feeds fresh"
    return ProbeResult(not stale, _elapsed_ms(started), detail)


def probe_beat() -> ProbeResult:
    """Fail when the scheduling beat's heartbeat is older than two heartbeat intervals: no
    beat schedules the feed builds, the scans, the maintenance. A beat never seen (no
    heartbeat: a fresh install, a test database) is no failure, as with the feeds."""
    started = time.perf_counter()
    now = time.time()
    try:
        beat = beat_status_get(get_redis(), now)
    except redis.RedisError as error:  # the redis probe's failure, not reported twice
        return ProbeResult(
            True, _elapsed_ms(started), f"heartbeat unknown ({type(error).__name__})"
        )
    if beat.at is None:
        return ProbeResult(True, _elapsed_ms(started), "beat not seen yet")
    detail = (
        f"heartbeat {now - beat.at:.0f} s old from {beat.identity}"
        f" (missing after {BEAT_STALE_AFTER_INTERVALS * beat.interval_s:.0f} s)"
    )
    return ProbeResult(not beat.stale, _elapsed_ms(started), detail)


def probe_streams_lag() -> ProbeResult:
    """Warn (never fail) when the Streams ingress group lags on a stream of ``STREAMS_KEYS``
    by more than ``STREAMS_READY_LAG_WARN`` entries (XINFO GROUPS ``lag``: written by a
    gateway, not yet read by any consumer). A lagging consumer group is no reason to take
    this process out of service, and its fix is more or healthier consumers, so it warns.
    A stream or group that does not exist (the ingress not in use) is fine; Redis being
    unreachable is the redis probe's failure, not reported twice."""
    started = time.perf_counter()
    limit, name = settings.STREAMS_READY_LAG_WARN, settings.STREAMS_GROUP
    try:
        states = [(key, group_state(get_redis(), key, name)) for key in settings.STREAMS_KEYS]
    except redis.RedisError as error:
        return ProbeResult(
            True, _elapsed_ms(started), f"lag unknown ({type(error).__name__})", True
        )
    details, lagging = [], False
    for key, state in states:
        if state is None:
            details.append(f"{key}: no group {name}")
        elif state.lag is None:
            details.append(f"{key}: lag unknown, pending {state.pending}")
        else:
            lagging = lagging or state.lag > limit
            details.append(f"{key}: lag {state.lag}, pending {state.pending}")
    detail = "; ".join(details) + (f" (over {limit})" if lagging else "")
    return ProbeResult(not lagging, _elapsed_ms(started), detail, warn_only=True)


READINESS_PROBES: list[tuple[str, Callable[[], ProbeResult]]] = [
    ("postgres", probe_postgres),
    ("redis", probe_redis),
    ("mqtt", probe_mqtt),
    ("feeds", probe_feed_age),  # a GTFS-RT feed older than three build intervals
    ("beat", probe_beat),  # a beat heartbeat older than two intervals
    ("streams", probe_streams_lag),  # warn-only: a Streams ingress group behind its stream
]
