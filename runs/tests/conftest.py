"""Fixtures of the runs tests (composed from ``runs/tests/fixtures``)."""

from runs.tests.fixtures.feed import gtfs_feed, gtfs_feed_departing_now  # noqa: F401
from runs.tests.fixtures.people import (  # noqa: F401
    company,
    dispatcher,
    dispatcher_api,
    fast_password_hashing,
    login_counters_cleared,
    operator,
    operator_api,
    other_operator,
    other_vehicle,
    vehicle,
)
from runs.tests.fixtures.runs import run_in_state  # noqa: F401
