"""The Celery beat schedule, as data. Each part adds its periodic tasks here."""

from __future__ import annotations

from django.conf import settings

BEAT_SCHEDULE: dict[str, dict] = {
    # Position history partitions (realtime_engine.position_partitions): days created
    # POSITION_PARTITIONS_AHEAD_DAYS ahead, days past POSITION_RETENTION_DAYS dropped.
    # Hourly: a run that could not take its locks (busy table) is retried soon.
    "maintain-position-partitions": {
        "task": "realtime_engine.maintain_position_partitions",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    # The prediction history's samples (realtime_engine.segment_samples) from the stop
    # events upserted since the last run; every worker reloads them on its own timer.
    "update-segment-samples": {
        "task": "realtime_engine.update_segment_samples",
        "schedule": float(settings.PREDICTION_SAMPLES_INTERVAL_S),
        "options": {"expires": float(settings.PREDICTION_SAMPLES_INTERVAL_S)},
    },
    # Both GTFS-RT feeds into feed:* (schedule_engine.feeds); a build that waited longer
    # than one interval is dropped: the next one is due and reads fresher state.
    "build-gtfs-rt-feeds": {
        "task": "schedule_engine.feeds.build",
        "schedule": float(settings.FEED_BUILD_INTERVAL_S),
        "options": {"expires": float(settings.FEED_BUILD_INTERVAL_S)},
    },
    # The trip operations' hash (runs.services.trip_operations) rewritten from PostgreSQL:
    # repairs a write lost after its commit and drops operations past their time bound.
    "sync-trip-operations": {
        "task": "runs.trip_operations_sync",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # The GTFS-RT Alerts feed into feed:alerts (alerts.feed), from the service alerts in
    # PostgreSQL: an alert's period that starts or ends shows without a change; every change
    # queues a build of its own too.
    "build-gtfs-rt-alerts": {
        "task": "alerts.feed.build",
        "schedule": float(settings.FEED_BUILD_INTERVAL_S),
        "options": {"expires": float(settings.FEED_BUILD_INTERVAL_S)},
    },
    # Runs whose telemetry stopped: In Progress → No Signal → Cancelled (realtime_engine.tasks).
    "scan-stale-runs": {
        "task": "runs.scan_stale_runs",
        "schedule": float(settings.RUN_SCAN_INTERVAL_S),
        "options": {"expires": float(settings.RUN_SCAN_INTERVAL_S)},
    },
}
