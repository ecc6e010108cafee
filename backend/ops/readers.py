"""The status document's readers: one source each, bounded, and none can fail the others.

Each reader asks one source (hot-state Redis, the Celery broker) for what its part needs,
in one round trip where it can, and hands it to ``backend.ops.status``. A reader whose
source fails (Redis down, the broker unreachable, a key of the wrong type) yields its part
as unavailable, with the error and what is known without the source (the beat schedule,
the feed names); the rest of the document still answers. Every read is bounded: the DLQ's
reasons are counted over its newest ``DLQ_REASONS_COUNTED`` letters only, the workers get
``WORKERS_TIMEOUT_S`` to answer, and a broker that does not accept a connection is not
retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from django.conf import settings

from backend.ops import status
from databus import keys
from databus.celery import app
from databus.redis import get_redis
from databus.task_records import beat_status_get, periodic_tasks, task_records_get
from realtime_engine.ingest.streams.group import group_state
from realtime_engine.scans import last_scan_get
from runs.services.thresholds import thresholds_get
from schedule_engine.feeds.metrics import stale_after_s
from schedule_engine.feeds.store import feed_summaries_get

logger = logging.getLogger(__name__)

# How many of the newest dead letters are counted by reason: the DLQ may hold DLQ_MAXLEN
# (100,000 by default) letters of up to 4 KiB; their reasons alone travel.
DLQ_REASONS_COUNTED = 1000
# Celery's broadcast waits this long for every worker's answer (it cannot know how many
# there are), so it is the page's floor when the broker answers.
WORKERS_TIMEOUT_S = 1.0
_REASON_FIELD = "reason"  # a dead letter's field (realtime_engine.ingest.dlq.entry_fields)
# The newest letters' reasons only, newest first: never the payloads over the wire.
_NEWEST_REASONS = """
local entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[1])
local reasons = {}
for i, entry in ipairs(entries) do
  local fields = entry[2]
  local reason = ''
  for j = 1, #fields, 2 do
    if fields[j] == ARGV[2] then reason = fields[j + 1] end
  end
  reasons[i] = reason
end
return {redis.call('XLEN', KEYS[1]), reasons}
"""


def guarded(name: str, read: Callable[[], status.Part], **fallback: object) -> status.Part:
    """The part ``read`` makes, or, when its source fails, the part unavailable with
    ``fallback`` (what is known without the source)."""
    try:
        return status.part(**read())
    except Exception as error:  # any source failure: this part says so, the page answers
        logger.warning("ops status: the %s part is unavailable", name, exc_info=True)
        return status.unavailable(error, **fallback)


def periodic_tasks_part(client: redis.Redis, now: float) -> status.Part:
    tasks = periodic_tasks()
    return guarded(
        "periodic_tasks",
        lambda: {"tasks": status.task_rows(tasks, task_records_get(client), now)},
        tasks=status.task_rows(tasks, None, now),
    )


def beat_part(client: redis.Redis, now: float) -> status.Part:
    return guarded(
        "beat",
        lambda: status.beat_fields(beat_status_get(client, now), now),
        **status.beat_fields(None, now),
    )


def feeds_part(client: redis.Redis, now: float) -> status.Part:
    limit = stale_after_s()
    return guarded(
        "feeds",
        lambda: {"feeds": status.feed_rows(feed_summaries_get(client), now, limit)},
        feeds=status.feed_rows(None, now, limit),
    )


def stale_run_scan_part(client: redis.Redis, now: float) -> status.Part:
    interval = float(settings.RUN_SCAN_INTERVAL_S)
    fallback = status.scan_fields(None, now, interval)
    return guarded(
        "stale_run_scan",
        lambda: status.scan_fields(last_scan_get(client), now, interval),
        **{**fallback, "state": status.UNKNOWN},
    )


def dead_letters_part(client: redis.Redis) -> status.Part:
    def read() -> status.Part:
        newest_reasons = client.register_script(_NEWEST_REASONS)  # EVALSHA, loaded once
        length, reasons = newest_reasons(
            keys=[keys.TELEMETRY_DLQ], args=[DLQ_REASONS_COUNTED, _REASON_FIELD]
        )
        return status.dead_letter_fields(int(length), reasons)

    return guarded("dead_letters", read, length=None, counted=0, complete=False, by_reason=[])


def mqtt_part(client: redis.Redis, now: float) -> status.Part:
    stale_after = thresholds_get().stale_after_s

    def read() -> status.Part:
        pipe = client.pipeline(transaction=False)
        pipe.zcard(keys.RUNS_LAST_SEEN)
        pipe.zrange(keys.RUNS_LAST_SEEN, -1, -1, withscores=True)
        pipe.zcount(keys.RUNS_LAST_SEEN, "-inf", f"({now - stale_after}")
        seen, newest, silent = pipe.execute()
        newest_at = newest[0][1] if newest else None
        return status.mqtt_fields(seen, newest_at, silent, now, stale_after)

    unknown = status.mqtt_fields(0, None, 0, now, stale_after) | {
        "runs_seen": None,
        "silent_runs": None,
    }
    return guarded("ingest.mqtt", read, **unknown)


def streams_part(client: redis.Redis) -> status.Part:
    group, lag_warn = settings.STREAMS_GROUP, settings.STREAMS_READY_LAG_WARN
    return guarded(
        "ingest.streams",
        lambda: {
            "streams": status.stream_rows(
                [(key, group_state(client, key, group)) for key in settings.STREAMS_KEYS],
                group,
                lag_warn,
            )
        },
        streams=[],
    )


def workers_part() -> status.Part:
    def read() -> status.Part:
        with app.connection_for_write() as connection:
            # Fail at once on a broker that refuses: Celery's broadcast would retry for seconds.
            connection.ensure_connection(max_retries=0, timeout=WORKERS_TIMEOUT_S)
            inspect = app.control.inspect(timeout=WORKERS_TIMEOUT_S, connection=connection)
            return {"workers": status.worker_rows(inspect.active_queues())}

    return guarded("workers", read, workers=[])


def status_document(now: float | None = None) -> dict[str, object]:
    """The whole document: every part, each read on its own."""
    now = time.time() if now is None else now
    client = get_redis()
    return {
        "generated_at": now,
        "periodic_tasks": periodic_tasks_part(client, now),
        "beat": beat_part(client, now),
        "feeds": feeds_part(client, now),
        "stale_run_scan": stale_run_scan_part(client, now),
        "dead_letters": dead_letters_part(client),
        "ingest": {"mqtt": mqtt_part(client, now), "streams": streams_part(client)},
        "workers": workers_part(),
    }
