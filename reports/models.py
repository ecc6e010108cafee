"""Durable data of the reports: the prediction log and the daily per-route summaries."""

from django.db import models

from realtime_engine.position_partitions.plan import PartitionedTable
from realtime_engine.position_partitions.registry import register

# The id's sequence (migration 0004): the key is (predicted_at, id), so id is no AutoField.
_ID_SEQUENCE = "reports_predictionlog_id_seq"


class PredictionLog(models.Model):
    """One arrival time the TripUpdates feed published for one stop of one trip.

    Sampled from the stored feed bytes every ``PREDICTION_LOG_INTERVAL_S`` by
    ``reports.prediction_log`` (one COPY per sample, never the ORM per row): each trip
    entity's stop time updates whose arrival lies ahead, up to
    ``PREDICTION_LOG_MAX_HORIZON_S``. The observed arrival is not stored: the accuracy
    selector joins ``realtime_engine.models.StopEvent`` on (trip_id, service date =
    start_date, its run's start_time = start_time, stop_sequence) when it reports.

    The table is range-partitioned on ``predicted_at``, one partition per UTC day plus a
    DEFAULT one (``PREDICTION_LOG_PARTITIONS``, below, maintained by
    ``realtime_engine.position_partitions`` as the position history is): a day past
    ``PREDICTION_LOG_RETENTION_DAYS`` is dropped whole, never deleted row by row. A
    partitioned table's primary key must include the partition key, so it is
    (predicted_at, id): ``id`` is drawn from a sequence, and the key's index, starting
    with predicted_at, serves "was this feed sampled" and time ranges.
    """

    pk = models.CompositePrimaryKey("predicted_at", "id")
    id = models.BigIntegerField(
        db_default=models.Func(
            models.Value(_ID_SEQUENCE), function="nextval", output_field=models.BigIntegerField()
        )
    )
    predicted_at = models.DateTimeField(help_text="The feed's header timestamp.")
    trip_id = models.CharField(max_length=255)
    route_id = models.CharField(max_length=255, blank=True)
    direction_id = models.PositiveSmallIntegerField(null=True, blank=True)
    start_date = models.DateField(help_text="The trip's service date (GTFS-RT start_date).")
    # GTFS-RT start_time: which instance of a frequency-based trip (they share a trip_id).
    start_time = models.CharField(max_length=8, blank=True, default="", db_default="")
    stop_id = models.CharField(max_length=255, blank=True)
    stop_sequence = models.PositiveIntegerField()
    vehicle_id = models.CharField(max_length=255, blank=True)
    predicted_arrival = models.DateTimeField()
    horizon_s = models.PositiveIntegerField(help_text="predicted_arrival - predicted_at.")

    class Meta:
        indexes = [
            # The accuracy report: a range of service dates, often one route.
            models.Index(fields=["start_date", "route_id"], name="prediction_log_date_route_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.trip_id} #{self.stop_sequence} at {self.predicted_at:%H:%M:%S}"


PREDICTION_LOG_PARTITIONS = register(
    PartitionedTable(
        PredictionLog._meta.db_table,
        "predicted_at",
        ahead_days_setting="PREDICTION_LOG_PARTITIONS_AHEAD_DAYS",
        retention_days_setting="PREDICTION_LOG_RETENTION_DAYS",
    )
)


class RouteDaySummary(models.Model):
    """One past service day of one route and direction, as the reports' tallies of it.

    Written by ``reports.summaries`` (the beat task ``reports.summarize_days``) once the
    service day is over: a day's rows are replaced together, so a re-run rewrites them
    and a day has either all its rows or none. The reports read these instead of that
    day's raw stop events when no stop or hour narrows them (``reports.selectors``).
    The JSON fields hold the measures' mergeable forms (``reports.summaries`` reads and
    writes them): on-time counts by stop and by hour, headway moments by stop, and
    whole-second running-time histograms by segment and for whole trips.
    """

    service_date = models.DateField()
    route_id = models.CharField(max_length=255)
    direction_id = models.PositiveSmallIntegerField(null=True, blank=True)
    departures = models.PositiveIntegerField(help_text="Stop departures with a schedule.")
    early = models.PositiveIntegerField()
    on_time = models.PositiveIntegerField()
    late = models.PositiveIntegerField()
    on_time_by = models.JSONField(help_text="{'stop'|'hour': {key: [early, on_time, late]}}")
    headways = models.JSONField(help_text="{stop_id: [n, Σh, Σh², bunched, Σscheduled]}")
    running_times = models.JSONField(
        help_text="[[from, to, observed {s: n}, scheduled {s: n}, seq]]"
    )
    early_s = models.PositiveIntegerField(help_text="The on-time window it was counted with.")
    late_s = models.PositiveIntegerField()
    frequent_headway_s = models.PositiveIntegerField()
    summarized_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_date", "route_id", "direction_id"],
                nulls_distinct=False,
                name="route_day_summary_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"{self.route_id}/{self.direction_id} {self.service_date}"


class PredictionAccuracyDay(models.Model):
    """One past service day's prediction-accuracy tallies of one route, direction, hour
    and horizon bucket: what the accuracy report sums from the prediction log, kept.

    Written by ``reports.prediction_log.daily`` (the beat task
    ``reports.summarize_prediction_accuracy``) once the day is over, a day's rows
    replaced together; read by ``reports.selectors.accuracy`` instead of that day's raw
    log unless a stop narrows the report. The raw log is pruned after
    ``PREDICTION_LOG_RETENTION_DAYS``; these rows are small and stay, so the accuracy
    over months is read from them. ``bucket`` indexes
    ``reports.measures.accuracy.BUCKETS``; None holds the unobserved predictions.
    """

    service_date = models.DateField()
    route_id = models.CharField(max_length=255, blank=True)
    direction_id = models.PositiveSmallIntegerField(null=True, blank=True)
    hour = models.PositiveSmallIntegerField(help_text="Agency time, when it was published.")
    bucket = models.PositiveSmallIntegerField(null=True, blank=True)
    count = models.PositiveIntegerField()
    abs_error_sum = models.FloatField(help_text="Σ|predicted - observed| (s)")
    error_sum = models.FloatField(help_text="Σ(predicted - observed) (s)")
    within_count = models.PositiveIntegerField()
    summarized_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["service_date", "route_id"], name="accuracy_day_date_route_idx")
        ]

    def __str__(self) -> str:
        return f"{self.route_id}/{self.direction_id} {self.service_date} h{self.hour}"
