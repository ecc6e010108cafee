"""Position history retention: the periodic purge deletes only rows older than the setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from databus.beat import BEAT_SCHEDULE
from realtime_engine.models import PositionRecord
from realtime_engine.tasks import purge_position_history


def test_purge_deletes_rows_older_than_the_retention(db, settings):
    settings.POSITION_RETENTION_DAYS = 7
    now = datetime.now(UTC)
    for vehicle_id, age_days in (("old", 8), ("old", 30), ("recent", 6), ("recent", 0)):
        stamp = now - timedelta(days=age_days)
        PositionRecord.objects.create(
            vehicle_id=vehicle_id, timestamp=stamp, latitude=1, longitude=2, received_at=stamp
        )
    assert purge_position_history() == 2
    assert sorted(PositionRecord.objects.values_list("vehicle_id", flat=True)) == [
        "recent",
        "recent",
    ]


def test_the_purge_is_scheduled():
    tasks = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert "realtime_engine.purge_position_history" in tasks
