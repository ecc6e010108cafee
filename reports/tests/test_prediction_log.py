"""The prediction log samples the TripUpdates feed as published.

A feed is built with the pipeline's own builders and stored where the feed endpoint
serves it from (``feed_save``, Redis); the Celery task reads it back, parses its bytes
and COPYs its rows into the real PostgreSQL. Retention (dropping whole day partitions)
is test_prediction_log_partitions.py's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.test import override_settings

from reports.models import PredictionLog
from reports.prediction_log.tasks import sample_prediction_log
from schedule_engine.feeds.builders import build_trip_updates
from schedule_engine.feeds.snapshots import (
    StopRelationship,
    StopTimeUpdateSnapshot,
    TripEntity,
    TripRelationship,
    TripSnapshot,
    VehicleSnapshot,
)
from schedule_engine.feeds.store import FeedName, FeedSummary, StoredFeed, feed_save, payload_etag

pytestmark = pytest.mark.django_db

NOW = 1_764_594_000  # 2025-12-01 13:00:00 UTC


def _publish(client, trips: list[TripEntity], *, now: int = NOW) -> None:
    payload = build_trip_updates(trips, now=now).SerializeToString()
    summary = FeedSummary(
        FeedName.TRIP_UPDATES, now, payload_etag(payload), len(trips), float(now), 0.01
    )
    assert feed_save(client, StoredFeed(summary, payload))


def _stop(sequence: int, ahead_s: int | None, **kwargs) -> StopTimeUpdateSnapshot:
    at = None if ahead_s is None else NOW + ahead_s
    return StopTimeUpdateSnapshot(sequence, f"S{sequence}", at, at, **kwargs)


def _trip(trip_id: str, *updates, relationship=TripRelationship.SCHEDULED, vehicle="bus-7"):
    return TripEntity(
        f"run-{trip_id}",
        TripSnapshot(trip_id, "R9", 1, "20251201", "12:30:00", relationship),
        NOW - 5,
        VehicleSnapshot(vehicle) if vehicle else None,
        tuple(updates),
    )


def _rows() -> list[tuple]:
    return list(
        PredictionLog.objects.order_by("trip_id", "stop_sequence").values_list(
            "predicted_at",
            "trip_id",
            "route_id",
            "direction_id",
            "start_date",
            "stop_id",
            "stop_sequence",
            "vehicle_id",
            "predicted_arrival",
            "horizon_s",
        )
    )


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_a_sample_logs_each_future_arrival_within_the_horizon(redis_client):
    _publish(
        redis_client,
        [
            _trip(
                "T1",
                _stop(3, -30),  # passed: its time is the observed one, not a prediction
                _stop(4, 0),  # due now: nothing left to predict
                _stop(5, 60),
                _stop(6, None, relationship=StopRelationship.SKIPPED),
                _stop(7, 1800),
                _stop(8, 1801),  # beyond PREDICTION_LOG_MAX_HORIZON_S
            ),
            _trip("T2", relationship=TripRelationship.CANCELED),
            _trip("T3", _stop(1, None, relationship=StopRelationship.NO_DATA), vehicle=None),
        ],
    )
    assert sample_prediction_log.apply().get() == 2
    day = date(2025, 12, 1)
    assert _rows() == [
        (_at(NOW), "T1", "R9", 1, day, "S5", 5, "bus-7", _at(NOW + 60), 60),
        (_at(NOW), "T1", "R9", 1, day, "S7", 7, "bus-7", _at(NOW + 1800), 1800),
    ]


def test_a_feed_is_sampled_once_and_a_newer_one_again(redis_client):
    _publish(redis_client, [_trip("T1", _stop(5, 60))])
    assert sample_prediction_log.apply().get() == 1
    assert sample_prediction_log.apply().get() == 0  # the same header timestamp
    _publish(redis_client, [_trip("T1", _stop(5, 60))], now=NOW + 15)
    assert sample_prediction_log.apply().get() == 1
    assert sorted(r[0] for r in _rows()) == [_at(NOW), _at(NOW + 15)]


def test_no_feed_stored_logs_nothing(redis_client):
    assert sample_prediction_log.apply().get() == 0
    assert not PredictionLog.objects.exists()


@override_settings(PREDICTION_LOG_MAX_HORIZON_S=300)
def test_the_horizon_is_a_setting(redis_client):
    _publish(redis_client, [_trip("T1", _stop(5, 300), _stop(6, 301))])
    assert sample_prediction_log.apply().get() == 1
    assert [r[6] for r in _rows()] == [5]
