"""Models of the realtime_engine app: the durable position history, vehicles' broker accounts.

``PositionRecord`` rows are written by both ingest consumers (MQTT, Redis Streams) in
batches with raw SQL (``realtime_engine.ingest.history``), never through the ORM on the
hot path; read by history queries (``GET /api/vehicles/{id}/positions/``,
``realtime_engine.positions_api``). Its table is partitioned by UTC day (migration 0006);
``realtime_engine.position_partitions`` creates the days ahead and drops expired ones.
"""

from __future__ import annotations

from django.contrib.postgres.indexes import BrinIndex
from django.db import models


class PositionRecord(models.Model):
    """One received position; (vehicle_id, timestamp) is its key, so a replay adds nothing.

    The table is range-partitioned on ``timestamp``, one partition per UTC day, plus a
    DEFAULT partition for a day without one (``realtime_engine.position_partitions``). The
    primary key is the natural key (vehicle_id, timestamp) rather than a surrogate id: a
    partitioned table's unique keys must include the partition key anyway, and an id
    would cost 8 bytes a row plus a second btree per partition that no query uses.
    Nothing reads a PositionRecord by a single-column pk (no admin page, the API lists by
    vehicle and window).
    """

    pk = models.CompositePrimaryKey("vehicle_id", "timestamp")
    vehicle_id = models.CharField(max_length=64)
    timestamp = models.DateTimeField(help_text="When the vehicle measured it (payload).")
    latitude = models.FloatField()
    longitude = models.FloatField()
    bearing = models.FloatField(null=True, blank=True)
    speed = models.FloatField(null=True, blank=True, help_text="m/s")
    odometer = models.FloatField(null=True, blank=True, help_text="m")
    received_at = models.DateTimeField(help_text="When the server received it.")
    # The device's IO bag (Streams records; {} from MQTT). A bigint is a JSON number
    # (jsonb numeric keeps it exact), a byte buffer a base64 string. db_default: the
    # raw-SQL history writer may leave it out.
    attributes = models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()))

    class Meta:
        # The primary key's index, (vehicle_id, timestamp), serves "vehicle V between T1
        # and T2" inside each partition the window overlaps (the others are pruned).
        indexes = [
            # Rows arrive in time order: a BRIN index of a few pages per partition serves
            # fleet-wide time windows within a day, which pruning narrows only to the day.
            BrinIndex(fields=["timestamp"], name="position_record_ts_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class StopEvent(models.Model):
    """When a run's vehicle arrived at and left one stop of its trip (on-time record, history).

    Written by the progression observer (``realtime_engine.progression.stop_events``) in one
    multi-row upsert per ingest batch, never through the ORM on the hot path; read by
    the segment samples' update (``realtime_engine.segment_samples``: travel times by hour).
    """

    class Source(models.TextChoices):
        OBSERVED = "observed"  # a position fell inside the stop zone
        INTERPOLATED = "interpolated"  # positions skipped the stop: interpolated between two

    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="stop_events")
    trip_id = models.CharField(max_length=255)
    service_date = models.DateField()
    stop_sequence = models.PositiveIntegerField()
    stop_id = models.CharField(max_length=255)
    arrived_at = models.DateTimeField()
    departed_at = models.DateTimeField(null=True, blank=True, help_text="None at the terminal.")
    source = models.CharField(max_length=12, choices=Source.choices)
    # The matcher-state revision that produced the row (a Redis clock, microseconds): an
    # upsert never replaces a row with one from an older revision, so two workers writing
    # one run's events converge on the newest matcher state's, whatever order they commit.
    revision = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # A stop re-recorded (a run back at its first stops after a terminal loop) upserts.
            models.UniqueConstraint(
                fields=["run", "stop_sequence"], name="stop_event_run_sequence_uniq"
            ),
        ]
        indexes = [
            # History: "segment leaving stop S, at hour H, recently" starts from its first stop.
            models.Index(fields=["stop_id", "arrived_at"], name="stop_event_stop_time_idx"),
            models.Index(fields=["arrived_at"], name="stop_event_arrived_idx"),
            # The segment samples' update: "rows upserted since revision R" (every upsert
            # sets the revision), without a scan of the whole table each minute.
            models.Index(fields=["revision"], name="stop_event_revision_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.trip_id} #{self.stop_sequence} {self.stop_id} ({self.source})"


class SegmentTravelSample(models.Model):
    """One run's travel time between two consecutive recorded stops: a prediction sample.

    Derived from ``StopEvent`` rows by ``realtime_engine.segment_samples`` (a periodic task),
    keyed like the event it leaves from, (run, stop_sequence), so deriving a run again
    rewrites its samples instead of adding any. Bounded: each (from stop, to stop, hour)
    keeps its newest ``MAX_SAMPLES`` by ``reached_at``, none older than
    ``PREDICTION_HISTORY_DAYS``. Read whole by ``realtime_engine.segment_history``.
    """

    pk = models.CompositePrimaryKey("run", "stop_sequence")
    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="+")
    stop_sequence = models.PositiveIntegerField(help_text="Of the stop the segment leaves.")
    from_stop_id = models.CharField(max_length=255)
    to_stop_id = models.CharField(max_length=255)
    hour = models.PositiveSmallIntegerField(help_text="UTC hour of arrived_at.")
    arrived_at = models.DateTimeField(help_text="Arrival at the stop the segment leaves.")
    reached_at = models.DateTimeField(help_text="Arrival at the next recorded stop.")

    class Meta:
        indexes = [
            # The trim to the newest samples of a key, and the load's order within a key.
            models.Index(
                fields=["from_stop_id", "to_stop_id", "hour", "-reached_at"],
                name="segment_sample_key_idx",
            ),
            models.Index(fields=["arrived_at"], name="segment_sample_arrived_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.from_stop_id} -> {self.to_stop_id} @ {self.hour}h"


class SegmentSampleWatermark(models.Model):
    """The newest ``StopEvent.revision`` the segment samples were derived from (one row).

    No row: the next update derives every run of the history's days (a rebuild).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    revision = models.BigIntegerField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"segment samples up to revision {self.revision}"


class BrokerCredential(models.Model):
    """A vehicle's broker account: its username is the vehicle id; only a hash is stored.

    Written by ``manage.py broker_credentials rotate|revoke``
    (``realtime_engine.broker.credentials``), read when that command writes the broker's
    password and ACL files. A vehicle without one has no account and cannot connect.
    """

    vehicle = models.OneToOneField(
        "runs.Vehicle",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="broker_credential",
    )
    password_hash = models.CharField(
        max_length=255, help_text="Mosquitto $7$ (PBKDF2-SHA512) hash; the secret is never stored."
    )
    rotated_at = models.DateTimeField(help_text="When the current secret was issued.")

    def __str__(self) -> str:
        return f"broker account {self.vehicle_id}"
