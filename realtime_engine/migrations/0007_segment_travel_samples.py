"""Segment travel samples: the prediction history as a bounded table, kept by a task.

``SegmentTravelSample`` holds each segment-hour's newest samples, derived incrementally
from the stop events (``realtime_engine.segment_samples``); ``SegmentSampleWatermark``
says up to which ``StopEvent.revision``. The new tables start empty and without a
watermark, so the first task run derives every run of the history's days once.
Not atomic: the index on ``StopEvent.revision`` is built CONCURRENTLY.
"""

import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("realtime_engine", "0006_position_record_partitions"),
        ("runs", "0003_vehicle_tracker_imei"),
    ]

    operations = [
        migrations.CreateModel(
            name="SegmentSampleWatermark",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False),
                ),
                ("revision", models.BigIntegerField()),
                ("updated_at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="SegmentTravelSample",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "run",
                        "stop_sequence",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="runs.run"
                    ),
                ),
                (
                    "stop_sequence",
                    models.PositiveIntegerField(help_text="Of the stop the segment leaves."),
                ),
                ("from_stop_id", models.CharField(max_length=255)),
                ("to_stop_id", models.CharField(max_length=255)),
                ("hour", models.PositiveSmallIntegerField(help_text="UTC hour of arrived_at.")),
                (
                    "arrived_at",
                    models.DateTimeField(help_text="Arrival at the stop the segment leaves."),
                ),
                (
                    "reached_at",
                    models.DateTimeField(help_text="Arrival at the next recorded stop."),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="segmenttravelsample",
            index=models.Index(
                fields=["from_stop_id", "to_stop_id", "hour", "-reached_at"],
                name="segment_sample_key_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="segmenttravelsample",
            index=models.Index(fields=["arrived_at"], name="segment_sample_arrived_idx"),
        ),
        # Last, and CONCURRENTLY: a month of stop events is indexed while the ingest keeps
        # upserting them (a plain CREATE INDEX would block its writes for the whole build).
        AddIndexConcurrently(
            model_name="stopevent",
            index=models.Index(fields=["revision"], name="stop_event_revision_idx"),
        ),
    ]
