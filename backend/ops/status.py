"""The status document's parts, decided without I/O from what each reader got.

Every part is a JSON object with ``available`` (its source answered) and ``error`` (what
went wrong when it did not), then its own fields; ``part`` and ``unavailable`` make those
two. A part's ``state`` is the one word an operator scans a table for: ``ok``, or what is
wrong (``late``, ``failing``, ``stale``…), or that nothing happened yet (``never run``,
``not built``). Times are POSIX seconds, ages seconds before ``now``. Pure: the readers
(``backend.ops.readers``) pass everything in, ``now`` included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from databus.task_records import BeatStatus, PeriodicTask, TaskRecord
from realtime_engine.ingest.streams.group import GroupState
from realtime_engine.scan_record import ScanRecord
from schedule_engine.feeds.store import FeedName, FeedSummary

# A periodic task (or the scan) whose last success is older than this many of its intervals
# is late: one missed run is noise, three are a stopped beat or a broken task.
LATE_AFTER_INTERVALS = 3

OK, LATE, FAILING, STALE = "ok", "late", "failing", "stale"
NEVER_RUN, NOT_BUILT, NEVER_SEEN, UNKNOWN = "never run", "not built", "never seen", "unknown"
_FAILURE = "FAILURE"  # TaskRecord.last_state of a run that raised (Celery's state name)

Part = dict[str, object]


def part(**fields: object) -> Part:
    """A part whose source answered."""
    return {"available": True, "error": None, **fields}


def unavailable(error: BaseException, **fields: object) -> Part:
    """A part whose source failed: what failed, and the part's fields as far as known."""
    return {"available": False, "error": f"{type(error).__name__}: {error}", **fields}


def _age(at: float | None, now: float) -> float | None:
    return None if at is None else round(max(0.0, now - at), 3)


def task_state(record: TaskRecord | None, now: float) -> str:
    if record is None:
        return UNKNOWN
    if record.last_run_at is None:
        return NEVER_RUN
    if record.last_state == _FAILURE:
        return FAILING
    success = record.last_success_at
    if success is None or now - success > LATE_AFTER_INTERVALS * record.interval_s:
        return LATE
    return OK


def task_row(task: PeriodicTask, record: TaskRecord | None, now: float) -> Part:
    """One beat entry: its schedule, and what its runs did (None: not read)."""
    row: Part = {
        "name": task.entry,
        "task": task.task,
        "interval_s": task.interval_s,
        "setting": task.setting,
        "state": task_state(record, now),
        "last_run_at": None,
        "last_success_at": None,
        "last_success_age_s": None,
        "last_duration_s": None,
        "last_state": None,
        "last_error": None,
        "runs": None,
        "failures": None,
        "recent_failures": [],
    }
    if record is not None:
        row.update(
            last_run_at=record.last_run_at,
            last_success_at=record.last_success_at,
            last_success_age_s=_age(record.last_success_at, now),
            last_duration_s=record.last_duration_s,
            last_state=record.last_state,
            last_error=record.last_error,
            runs=record.runs,
            failures=record.failures,
            recent_failures=[
                {"at": f.at, "error": f.error, "message": f.message, "task_id": f.task_id}
                for f in record.recent_failures
            ],
        )
    return row


def task_rows(
    tasks: Sequence[PeriodicTask], records: Sequence[TaskRecord] | None, now: float
) -> list[Part]:
    """Every beat entry in schedule order; without records (Redis down) the schedule alone."""
    by_entry = {record.entry: record for record in records or ()}
    return [task_row(task, by_entry.get(task.entry), now) for task in tasks]


def beat_fields(status: BeatStatus | None, now: float) -> Part:
    if status is None:
        return {
            "state": UNKNOWN,
            "last_heartbeat_at": None,
            "age_s": None,
            "identity": None,
            "lock_holder": None,
            "interval_s": None,
        }
    state = NEVER_SEEN if status.at is None else (STALE if status.stale else OK)
    return {
        "state": state,
        "last_heartbeat_at": status.at,
        "age_s": _age(status.at, now),
        "identity": status.identity,
        "lock_holder": status.lock_holder,
        "interval_s": status.interval_s,
    }


def feed_rows(
    summaries: Mapping[FeedName, FeedSummary | None] | None, now: float, stale_after_s: float
) -> list[Part]:
    """Every feed, built or not (None: summaries not read)."""
    rows = []
    for name in FeedName:
        summary = None if summaries is None else summaries.get(name)
        if summary is None:
            state = UNKNOWN if summaries is None else NOT_BUILT
        else:
            state = STALE if now - summary.header_timestamp > stale_after_s else OK
        row: Part = {"name": name.value, "state": state, "stale_after_s": stale_after_s}
        row.update(dict.fromkeys(_FEED_FIELDS) if summary is None else _feed_fields(summary, now))
        rows.append(row)
    return rows


_FEED_FIELDS = ("header_timestamp", "age_s", "entity_count", "build_seconds", "built_at")


def _feed_fields(summary: FeedSummary, now: float) -> Part:
    return {
        "header_timestamp": summary.header_timestamp,
        "age_s": _age(summary.header_timestamp, now),
        "entity_count": summary.entity_count,
        "build_seconds": summary.build_seconds,
        "built_at": summary.built_at,
    }


def scan_fields(record: ScanRecord | None, now: float, interval_s: float) -> Part:
    if record is None:
        state = NEVER_RUN
    elif now - record.scanned_at > LATE_AFTER_INTERVALS * interval_s:
        state = LATE
    else:
        state = OK
    fields: Part = {"state": state, "interval_s": interval_s}
    if record is None:
        return fields | dict.fromkeys(_SCAN_FIELDS) | {"transitions": []}
    return fields | {
        "scanned_at": record.scanned_at,
        "age_s": _age(record.scanned_at, now),
        "duration_s": record.duration_s,
        "runs_looked_at": record.runs_looked_at,
        "transitions_total": record.transitions_total,
        "transitions": [
            {"run_id": t.run_id, "event": t.event, "source": t.source, "target": t.target}
            for t in record.transitions
        ],
    }


_SCAN_FIELDS = ("scanned_at", "age_s", "duration_s", "runs_looked_at", "transitions_total")


def dead_letter_fields(length: int, newest_reasons: Iterable[str]) -> Part:
    """The DLQ's length and, of its newest letters (as many as were read), the count of each
    reason, most frequent first; ``complete`` when every letter was counted."""
    counts = Counter(newest_reasons)
    counted = sum(counts.values())
    return {
        "length": length,
        "counted": counted,
        "complete": counted >= length,
        "by_reason": [
            {"reason": reason, "count": count}
            for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ],
    }


def mqtt_fields(
    runs_seen: int, newest_fix_at: float | None, silent_runs: int, now: float, stale_after_s: float
) -> Part:
    """What the web can measure of the MQTT ingest: how fresh the newest fix of any run is
    (``runs:last_seen``, the payload's time), and how many runs went silent. A lagging or
    stopped consumer shows as an ageing newest fix while vehicles still publish."""
    return {
        "runs_seen": runs_seen,
        "newest_fix_at": newest_fix_at,
        "newest_fix_age_s": _age(newest_fix_at, now),
        "silent_runs": silent_runs,
        "stale_after_s": stale_after_s,
    }


def stream_rows(
    states: Sequence[tuple[str, GroupState | None]], group: str, lag_warn: int
) -> list[Part]:
    """Each Streams ingress key's consumer group (None: the stream or group does not exist)."""
    rows = []
    for key, state in states:
        if state is None:
            row_state = "no group"
        elif state.lag is not None and state.lag > lag_warn:
            row_state = "lagging"
        else:
            row_state = OK
        row: Part = {"stream": key, "group": group, "state": row_state, "lag_warn": lag_warn}
        if state is None:
            row.update(dict.fromkeys(("consumers", "lag", "pending", "last_delivered_id")))
        else:
            row.update(
                consumers=state.consumers,
                lag=state.lag,
                pending=state.pending,
                last_delivered_id=state.last_delivered_id,
            )
        rows.append(row)
    return rows


def worker_rows(active_queues: Mapping[str, Sequence[Mapping[str, object]]] | None) -> list[Part]:
    """The workers that answered, by name, with the queues each consumes (None: no answer)."""
    return [
        {"name": name, "queues": sorted(str(queue.get("name", "")) for queue in queues or ())}
        for name, queues in sorted((active_queues or {}).items())
    ]
