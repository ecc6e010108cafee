"""Durable data of the reports: the prediction log and the daily per-route summaries."""

from django.db import models


class PredictionLog(models.Model):
    """One arrival time the TripUpdates feed published for one stop of one trip.

    Sampled from the stored feed bytes every ``PREDICTION_LOG_INTERVAL_S`` by
    ``reports.prediction_log`` (one COPY per sample, never the ORM per row): each trip
    entity's stop time updates whose arrival lies ahead, up to
    ``PREDICTION_LOG_MAX_HORIZON_S``. The observed arrival is not stored: the accuracy
    selector joins ``realtime_engine.models.StopEvent`` on (trip_id, service date =
    start_date, stop_sequence) when it reports. Pruned by whole days after
    ``PREDICTION_LOG_RETENTION_DAYS``.
    """

    id = models.BigAutoField(primary_key=True)
    predicted_at = models.DateTimeField(help_text="The feed's header timestamp.")
    trip_id = models.CharField(max_length=255)
    route_id = models.CharField(max_length=255, blank=True)
    direction_id = models.PositiveSmallIntegerField(null=True, blank=True)
    start_date = models.DateField(help_text="The trip's service date (GTFS-RT start_date).")
    stop_id = models.CharField(max_length=255, blank=True)
    stop_sequence = models.PositiveIntegerField()
    vehicle_id = models.CharField(max_length=255, blank=True)
    predicted_arrival = models.DateTimeField()
    horizon_s = models.PositiveIntegerField(help_text="predicted_arrival - predicted_at.")

    class Meta:
        indexes = [
            # Pruning by day and "was this feed already sampled" both start here.
            models.Index(fields=["predicted_at"], name="prediction_log_at_idx"),
            # The accuracy report: a range of service dates, often one route.
            models.Index(fields=["start_date", "route_id"], name="prediction_log_date_route_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.trip_id} #{self.stop_sequence} at {self.predicted_at:%H:%M:%S}"
