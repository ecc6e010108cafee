"""The status document's schema, for drf-spectacular: what ``backend.ops.status`` builds.

Documentation only: the view answers the document ``backend.ops.readers`` assembles as it
is (it is read, not input, and rendering it through serializers would only copy it).
Every part has ``available`` and ``error``; its other fields are null when its source
failed or nothing happened yet.
"""

from __future__ import annotations

from rest_framework import serializers

_TIME = "POSIX seconds"


def _nullable_float(help_text: str = "") -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


def _nullable_int(help_text: str = "") -> serializers.IntegerField:
    return serializers.IntegerField(allow_null=True, help_text=help_text)


def _nullable_text(help_text: str = "") -> serializers.CharField:
    return serializers.CharField(allow_null=True, help_text=help_text)


class PartFields(serializers.Serializer):
    available = serializers.BooleanField(help_text="the part's source answered")
    error = _nullable_text("why the source did not answer (null when it did)")


class TaskFailureOutput(serializers.Serializer):
    at = serializers.FloatField(help_text=_TIME)
    error = serializers.CharField(help_text="the exception's class")
    message = serializers.CharField()
    task_id = serializers.CharField()


class PeriodicTaskOutput(serializers.Serializer):
    name = serializers.CharField(help_text="the beat entry")
    task = serializers.CharField(help_text="the Celery task it sends")
    interval_s = serializers.FloatField()
    setting = serializers.CharField(help_text="the setting the interval comes from")
    state = serializers.CharField(help_text="ok, late, failing, never run or unknown")
    last_run_at = _nullable_float(_TIME)
    last_success_at = _nullable_float(_TIME)
    last_success_age_s = _nullable_float()
    last_duration_s = _nullable_float()
    last_state = _nullable_text("Celery state of the last run")
    last_error = _nullable_text("exception class of the last failure")
    runs = _nullable_int()
    failures = _nullable_int()
    recent_failures = TaskFailureOutput(many=True)


class PeriodicTasksOutput(PartFields):
    tasks = PeriodicTaskOutput(many=True, help_text="every beat entry, in schedule order")


class BeatOutput(PartFields):
    state = serializers.CharField(help_text="ok, stale (older than two intervals), never seen")
    last_heartbeat_at = _nullable_float(_TIME)
    age_s = _nullable_float()
    identity = _nullable_text("the beat that wrote the heartbeat (host:pid)")
    lock_holder = _nullable_text("the beat that holds the scheduling lock")
    interval_s = _nullable_float()


class FeedOutput(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.CharField(help_text="ok, stale, not built or unknown")
    header_timestamp = _nullable_int(_TIME)
    age_s = _nullable_float()
    entity_count = _nullable_int()
    build_seconds = _nullable_float()
    built_at = _nullable_float(_TIME)
    stale_after_s = serializers.FloatField()


class FeedsOutput(PartFields):
    feeds = FeedOutput(many=True)


class ScanTransitionOutput(serializers.Serializer):
    run_id = serializers.CharField()
    event = serializers.CharField(help_text="the lifecycle event the scan enqueued")
    source = serializers.CharField(help_text="the run's state when judged")
    target = serializers.CharField(help_text="the state the event leads to")


class StaleRunScanOutput(PartFields):
    state = serializers.CharField(help_text="ok, late, never run or unknown")
    interval_s = serializers.FloatField()
    scanned_at = _nullable_float(_TIME)
    age_s = _nullable_float()
    duration_s = _nullable_float()
    runs_looked_at = _nullable_int()
    transitions_total = _nullable_int()
    transitions = ScanTransitionOutput(many=True, help_text="the first 100")


class ReasonCountOutput(serializers.Serializer):
    reason = serializers.CharField()
    count = serializers.IntegerField()


class DeadLettersOutput(PartFields):
    length = _nullable_int("letters in the DLQ")
    counted = serializers.IntegerField(help_text="the newest letters counted by reason")
    complete = serializers.BooleanField(help_text="every letter was counted")
    by_reason = ReasonCountOutput(many=True)


class MqttIngestOutput(PartFields):
    runs_seen = _nullable_int("runs with a last-seen time")
    newest_fix_at = _nullable_float("the newest fix of any run (its payload time)")
    newest_fix_age_s = _nullable_float()
    silent_runs = _nullable_int("runs silent for longer than stale_after_s")
    stale_after_s = serializers.FloatField()


class StreamOutput(serializers.Serializer):
    stream = serializers.CharField()
    group = serializers.CharField()
    state = serializers.CharField(help_text="ok, lagging or no group")
    consumers = _nullable_int()
    lag = _nullable_int("entries not yet delivered to the group (null: Redis cannot tell)")
    pending = _nullable_int("delivered, not acknowledged")
    last_delivered_id = _nullable_text()
    lag_warn = serializers.IntegerField()


class StreamsIngestOutput(PartFields):
    streams = StreamOutput(many=True)


class IngestOutput(serializers.Serializer):
    mqtt = MqttIngestOutput()
    streams = StreamsIngestOutput()


class WorkerOutput(serializers.Serializer):
    name = serializers.CharField()
    queues = serializers.ListField(child=serializers.CharField())


class WorkersOutput(PartFields):
    workers = WorkerOutput(many=True, help_text="the workers that answered within 1 s")


class OpsStatusOutput(serializers.Serializer):
    generated_at = serializers.FloatField(help_text=_TIME)
    periodic_tasks = PeriodicTasksOutput()
    beat = BeatOutput()
    feeds = FeedsOutput()
    stale_run_scan = StaleRunScanOutput()
    dead_letters = DeadLettersOutput()
    ingest = IngestOutput()
    workers = WorkersOutput()
