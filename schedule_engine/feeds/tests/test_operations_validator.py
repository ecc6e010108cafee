"""TripUpdates carrying the dispatchers' operations pass the MobilityData rules with no ERROR.

The feeds are built by the build task from hot state written on ``operations_network``'s
network for today (New York): a run of T1 late enough for its block's next trip (T2) to
be published, with two of its stops skipped; a run of the ``exact_times=0`` trip
``HEADWAY`` (UNSCHEDULED); T3 cancelled ahead (CANCELED); two stops of LATE skipped with
no run (SKIPPED); and an added trip (NEW). The ``gtfs-rt-validator`` CLI checks both
feeds against the network's zip.

One exception is the validator's own: its port of the MobilityData jar decodes with the
2015 ``gtfs-realtime.proto``, which has no NEW, so an added trip published as NEW reads
as a SCHEDULED trip missing from trips.txt (E003; its rules module says so). Published
as ADDED (setting ``FEED_ADDED_TRIPS_AS_ADDED``, for such consumers) the same feed has
no ERROR at all; as NEW, E003 on the added trip is the only one.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from runs.domain.projections.trip_operations import (
    AddedStopTime,
    TripOperationKind,
    TripOperationRecord,
)
from schedule_engine import blocks
from schedule_engine.feeds.store import FeedName, feed_get
from schedule_engine.feeds.tasks import feeds_publish
from schedule_engine.feeds.tests.operations_network import (
    TZ,
    origin,
    scheduled_updates,
    write_network_run,
    write_operation,
    write_zip,
    yyyymmdd,
)
from schedule_engine.testing import import_feed
from tests.support.gtfs_rt_validator import error_notices, validator_report


def operation(kind: TripOperationKind, trip_id: str, op_id: str, day: dt.date, now: int, **fields):
    return TripOperationRecord(
        operation_id=op_id,
        kind=kind,
        trip_id=trip_id,
        start_date=yyyymmdd(day),
        active_from=now - 600,
        active_until=now + 7200,
        **fields,
    )


def write_operations_day(client, day: dt.date, now: int) -> None:
    base = origin(day)
    write_network_run(
        client, "r1", "bus-1", "T1", day, at=now, updates=scheduled_updates("T1", day, late_s=900)
    )
    write_network_run(
        client,
        "r9",
        "bus-9",
        "HEADWAY",
        day,
        at=now,
        updates=((1, "S1", base + 10 * 3600 + 1830), (2, "S4", base + 10 * 3600 + 2760)),
        start_time="10:30:00",
    )
    write_operation(client, operation(TripOperationKind.CANCEL, "T3", "1", day, now))
    write_operation(
        client,
        operation(TripOperationKind.SKIP_STOPS, "T1", "2", day, now, skipped_stop_sequences=(2, 3)),
    )
    write_operation(
        client,
        operation(
            TripOperationKind.SKIP_STOPS, "LATE", "3", day, now, skipped_stop_sequences=(20, 30)
        ),
    )
    first = now + 900
    write_operation(
        client,
        operation(
            TripOperationKind.ADD,
            "EXTRA-4",
            "4",
            day,
            now,
            route_id="R1",
            direction_id=0,
            start_time=dt.datetime.fromtimestamp(first, TZ).strftime("%H:%M:%S"),
            vehicle_id="bus-4",
            stop_times=(
                AddedStopTime(1, "S1", first, first),
                AddedStopTime(2, "S2", first + 240, first + 240),
                AddedStopTime(3, "S3", first + 480, first + 480),
                AddedStopTime(4, "S4", first + 600, first + 600),
            ),
        ),
    )


def validator_errors(client, tmp_path: Path, gtfs: Path) -> list[dict]:
    for name, file in ((FeedName.VEHICLE_POSITIONS, "vp.pb"), (FeedName.TRIP_UPDATES, "tu.pb")):
        (tmp_path / file).write_bytes(feed_get(client, name).payload)
    report = validator_report(gtfs, tmp_path / "out", vp=tmp_path / "vp.pb", tu=tmp_path / "tu.pb")
    return error_notices(report)


def _a_morning_of_service(clock: int) -> tuple[dt.date, int]:
    """The latest 08:05 (New York) not ahead of ``clock``, and its day: T1 (08:00) is then
    under way and T3 (09:00) ahead, so its cancellation is published (until an hour after
    it would have ended), whatever the hour the suite runs at. Never ahead of the clock:
    the validator would call a header from the future an error."""
    five_past_eight = 8 * 3600 + 5 * 60
    day = dt.datetime.fromtimestamp(clock, TZ).date()
    if origin(day) + five_past_eight > clock:
        day -= dt.timedelta(days=1)
    return day, origin(day) + five_past_eight


@pytest.mark.parametrize("as_added", [True, False], ids=["ADDED", "NEW"])
def test_trip_updates_with_every_operation_have_no_validator_errors(
    db, redis_client, settings, tmp_path, as_added
):
    settings.FEED_ADDED_TRIPS_AS_ADDED = as_added
    blocks.clear()
    gtfs = write_zip(tmp_path / "gtfs.zip")
    import_feed(gtfs)
    today, now = _a_morning_of_service(int(time.time()))
    write_operations_day(redis_client, today, now)

    feeds_publish(redis_client, now=now)

    ids = set(_entity_ids(redis_client))
    assert ids == {"r1", "r1:next", "r9", "cancel-1", "skip-3", "add-4"}  # all there
    errors = validator_errors(redis_client, tmp_path, gtfs)
    if as_added:
        assert errors == []
    else:
        assert [(n["code"], n["totalNotices"]) for n in errors] == [("E003", 1)]
        assert errors[0]["sampleNotices"][0]["prefix"] == "trip_id EXTRA-4"
    blocks.clear()


def _entity_ids(client) -> list[str]:
    message = rt.FeedMessage()
    message.ParseFromString(feed_get(client, FeedName.TRIP_UPDATES).payload)
    return [entity.id for entity in message.entity]
