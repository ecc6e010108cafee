"""The Celery beat schedule, as data. Each part adds its periodic tasks here.

Every entry runs every ``<its setting>`` seconds (docs/operations.md, "Periodic tasks",
lists them); ``INTERVAL_SETTINGS`` names that setting per task, for the task records and
the operators' status page. A run that waited longer than one interval is dropped
(``expires``): the next one is due and reads fresher state.
"""

from __future__ import annotations

from django.conf import settings

# Task name → the setting its interval comes from (filled by ``_every``).
INTERVAL_SETTINGS: dict[str, str] = {}


def _every(setting: str, task: str) -> dict:
    """A schedule entry for ``task`` every ``settings.<setting>`` seconds."""
    INTERVAL_SETTINGS[task] = setting
    interval = float(getattr(settings, setting))
    return {"task": task, "schedule": interval, "options": {"expires": interval}}


BEAT_SCHEDULE: dict[str, dict] = {
    # Position history partitions (realtime_engine.position_partitions): days created
    # POSITION_PARTITIONS_AHEAD_DAYS ahead, days past POSITION_RETENTION_DAYS dropped.
    # Hourly by default: a run that could not take its locks (busy table) is retried soon.
    "maintain-position-partitions": _every(
        "POSITION_PARTITIONS_INTERVAL_S", "realtime_engine.maintain_position_partitions"
    ),
    # The prediction history's samples (realtime_engine.segment_samples) from the stop
    # events upserted since the last run; every worker reloads them on its own timer.
    "update-segment-samples": _every(
        "PREDICTION_SAMPLES_INTERVAL_S", "realtime_engine.update_segment_samples"
    ),
    # Both GTFS-RT feeds into feed:* (schedule_engine.feeds).
    "build-gtfs-rt-feeds": _every("FEED_BUILD_INTERVAL_S", "schedule_engine.feeds.build"),
    # The trip operations' hash (runs.services.trip_operations) rewritten from PostgreSQL:
    # repairs a write lost after its commit and drops operations past their time bound.
    "sync-trip-operations": _every("TRIP_OPERATIONS_SYNC_INTERVAL_S", "runs.trip_operations_sync"),
    # The GTFS-RT Alerts feed into feed:alerts (alerts.feed), from the service alerts in
    # PostgreSQL: an alert's period that starts or ends shows without a change; every change
    # queues a build of its own too. Same interval as the other feeds: /readyz holds all
    # three to one bound (schedule_engine.feeds.metrics).
    "build-gtfs-rt-alerts": _every("FEED_BUILD_INTERVAL_S", "alerts.feed.build"),
    # Runs whose telemetry stopped: In Progress → No Signal → Cancelled (realtime_engine.tasks).
    "scan-stale-runs": _every("RUN_SCAN_INTERVAL_S", "runs.scan_stale_runs"),
    # Finished runs past RUN_RETENTION_DAYS, with their stop events and transitions
    # (runs.services.retention).
    "purge-finished-runs": _every("RUN_PURGE_INTERVAL_S", "runs.purge_finished_runs"),
    # The prediction log (reports.prediction_log): what TripUpdates published, sampled
    # from the stored feed; its day partitions created PREDICTION_LOG_PARTITIONS_AHEAD_DAYS
    # ahead, days past PREDICTION_LOG_RETENTION_DAYS dropped (as the position history's).
    "sample-prediction-log": _every("PREDICTION_LOG_INTERVAL_S", "reports.sample_prediction_log"),
    "maintain-prediction-log-partitions": _every(
        "PREDICTION_LOG_PARTITIONS_INTERVAL_S", "reports.maintain_prediction_log_partitions"
    ),
    # The daily summaries (reports.summaries): the service days over by
    # REPORTS_SUMMARY_LAG_S, the last few rewritten (idempotent; catches a missed day).
    "summarize-report-days": _every("REPORTS_SUMMARY_INTERVAL_S", "reports.summarize_days"),
    # The past days' prediction-accuracy tallies (reports.prediction_log.daily), kept after
    # the raw log is pruned; the same days as the summaries above.
    "summarize-prediction-accuracy": _every(
        "REPORTS_SUMMARY_INTERVAL_S", "reports.summarize_prediction_accuracy"
    ),
}
