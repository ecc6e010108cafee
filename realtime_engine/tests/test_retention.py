"""Position history retention: the hourly partition maintenance keeps POSITION_RETENTION_DAYS
(whole UTC days) and removes what is older, under its new name and its former one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from databus.beat import BEAT_SCHEDULE
from realtime_engine.models import PositionRecord
from realtime_engine.tasks import maintain_position_partitions, purge_position_history


@pytest.mark.parametrize("task", [maintain_position_partitions, purge_position_history])
def test_the_task_removes_rows_older_than_the_retention(db, settings, task):
    settings.POSITION_RETENTION_DAYS = 7
    now = datetime.now(UTC)
    for vehicle_id, age_days in (("old", 9), ("old", 30), ("recent", 6), ("recent", 0)):
        stamp = now - timedelta(days=age_days)
        PositionRecord.objects.create(
            vehicle_id=vehicle_id, timestamp=stamp, latitude=1, longitude=2, received_at=stamp
        )
    report = task()
    assert report["cutoff"] <= (now - timedelta(days=7)).isoformat()
    assert sorted(PositionRecord.objects.values_list("vehicle_id", flat=True)) == [
        "recent",
        "recent",
    ]


def test_the_maintenance_is_scheduled_hourly():
    (entry,) = (
        e
        for e in BEAT_SCHEDULE.values()
        if e["task"] == "realtime_engine.maintain_position_partitions"
    )
    assert entry["schedule"] == 3600.0
