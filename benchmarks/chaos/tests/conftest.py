"""The runs fixtures the checks' tests build a run with (composed from ``runs/tests/fixtures``)."""

from runs.tests.fixtures.feed import gtfs_feed  # noqa: F401
from runs.tests.fixtures.people import company, dispatcher, operator, vehicle  # noqa: F401
from runs.tests.fixtures.runs import run_in_state  # noqa: F401
