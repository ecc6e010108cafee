"""Fixtures of the alerts tests: the tiny GTFS feed (current), people in each role, the
Celery tasks run in the test's process, and a recorder of alert notifications."""

from __future__ import annotations

import pytest

from databus import notify
from runs.tests.fixtures.feed import gtfs_feed  # noqa: F401
from runs.tests.fixtures.people import (  # noqa: F401
    company,
    dispatcher,
    dispatcher_api,
    login_counters_cleared,
    operator,
    operator_api,
)


class AlertRecorder:
    """A ``databus.notify`` listener keeping what it hears."""

    def __init__(self) -> None:
        self.alerts: list[notify.AlertChanged] = []
        self.feeds: list[notify.FeedPublished] = []

    def run_state_changed(self, change: notify.RunStateChanged) -> None:
        pass

    def feed_published(self, feed: notify.FeedPublished) -> None:
        self.feeds.append(feed)

    def alert_changed(self, change: notify.AlertChanged) -> None:
        self.alerts.append(change)


@pytest.fixture
def heard():
    """The recorder, installed as the one listener for the test (the previous one after)."""
    recorder = AlertRecorder()
    previous = notify.install(recorder)
    yield recorder
    notify.install(previous)


@pytest.fixture
def tasks_run_here():
    """``.delay()`` runs the task at once, in this process (and this test's transaction)."""
    from databus.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def committed(django_capture_on_commit_callbacks, tasks_run_here):
    """Run what waits for the commit (notification, feed build) as the commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
