"""The operations status in the admin: staff only, linked from the index, the document as tables."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.test import Client

from backend.ops.admin_page import with_dates
from databus import keys
from databus.task_records import heartbeat_set, periodic_tasks
from realtime_engine import tasks
from realtime_engine.ingest import dlq
from realtime_engine.ingest.decode import Rejection
from realtime_engine.scans import scan_stale_runs
from runs.domain.lifecycle.states import RunState
from runs.domain.telemetry.rejection import RejectReason
from runs.domain.tests.domain_values import STOPS
from runs.services.thresholds import thresholds_get
from runs.tests.fixtures.people import make_user
from runs.tests.fixtures.runs import write_position
from schedule_engine.feeds.store import FeedName
from schedule_engine.feeds.tasks import feeds_publish

pytest_plugins = [
    "runs.tests.fixtures.feed",
    "runs.tests.fixtures.people",
    "runs.tests.fixtures.runs",
]

PAGE = "/admin/ops/status/"


def signed_in(*, staff: bool) -> Client:
    user = make_user("ops-staff" if staff else "ops-plain", None)
    user.is_staff = staff
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_only_staff_open_the_page_and_the_index_links_to_it(redis_client):
    assert Client().get(PAGE).status_code == 302
    refused = signed_in(staff=False).get(PAGE)
    assert refused.status_code == 302 and refused["Location"].startswith("/admin/login/")

    index = signed_in(staff=True).get("/admin/")
    assert index.status_code == 200
    assert f'href="{PAGE}"' in index.content.decode()


def disk_full(**_):
    raise RuntimeError("could not extend file: No space left on device")


@pytest.mark.django_db
def test_the_page_shows_each_part_as_a_table(run_in_state, redis_client, monkeypatch):
    # A periodic task that fails, its record written by Celery's signals as in a worker.
    monkeypatch.setattr(tasks, "maintain", disk_full)
    assert tasks.maintain_position_partitions.apply().failed()
    run = run_in_state(RunState.IN_PROGRESS)
    write_position(redis_client, run, lat=STOPS[1][1], lon=STOPS[1][2], speed=0.0, age_s=90)
    scan_stale_runs(redis_client, thresholds_get(), enqueue=lambda request: None)
    feeds_publish(redis_client)
    rejection = Rejection("fleet/v1/x/position", b"{", RejectReason.NOT_JSON, "bad", time.time())
    redis_client.xadd(keys.TELEMETRY_DLQ, dlq.entry_fields(rejection))
    heartbeat_set(redis_client, at=time.time(), identity="beat-host:77", interval_s=5.0)

    response = signed_in(staff=True).get(PAGE)

    assert response.status_code == 200
    page = response.content.decode()
    for section in (
        "ops-periodic-tasks",
        "ops-beat",
        "ops-feeds",
        "ops-stale-run-scan",
        "ops-dead-letters",
        "ops-ingest",
        "ops-workers",
    ):
        assert f'id="{section}"' in page
    for task in periodic_tasks():
        assert f"<td>{task.entry}</td>" in page
    assert "<td>beat-host:77</td>" in page
    assert f"<td>{FeedName.VEHICLE_POSITIONS.value}</td><td>ok</td>" in page
    assert f"<td>{run.pk}</td><td>run_tracking_lost</td>" in page
    assert f"<td>{RejectReason.NOT_JSON.value}</td><td>1</td>" in page
    assert "<td>maintain-position-partitions</td>" in page
    assert "<td>failing</td>" in page
    assert "RuntimeError: could not extend file: No space left on device" in page
    assert "errornote" not in page  # every source answered


def test_times_are_shown_as_dates_and_nothing_else_is():
    document = {"a_at": 0, "header_timestamp": 86400.5, "age_s": 3.0, "rows": [{"at": None}]}
    assert with_dates(document) == {
        "a_at": dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        "header_timestamp": dt.datetime(1970, 1, 2, tzinfo=dt.UTC),
        "age_s": 3.0,
        "rows": [{"at": None}],
    }
    assert with_dates({"recent_failures": [{"at": 60}]}) == {
        "recent_failures": [{"at": dt.datetime(1970, 1, 1, 0, 1, tzinfo=dt.UTC)}]
    }
