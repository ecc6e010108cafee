"""``manage.py demo_history [--date YYYY-MM-DD] [--vehicles N] [--seed S]``: a recorded day.

Writes (or rewrites) one service day of history for the current GTFS version, as it
would have been recorded: completed runs, stop events, position history and the
prediction log (``reports.demo_history``). The day defaults to yesterday in the
agency's time zone; only runs that would have ended by now are written. ``make demo``
runs it at start, so the reports show a day on first start.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports.demo_history.writer import HistoryError, demo_history_write
from schedule_engine.selectors import current_feed_get


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = "Write one service day of demo history (runs, stop events, positions, predictions)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date", type=_date, help="service date (default: yesterday, agency time zone)"
        )
        parser.add_argument(
            "--vehicles", type=_positive, help="fleet size (default: as many as the day needs)"
        )
        parser.add_argument("--seed", default="databus", help="same seed, same day")

    def handle(self, *args, date: dt.date | None, vehicles: int | None, seed: str, **options):
        feed = current_feed_get()
        if feed is None:
            raise CommandError("no current GTFS feed: run import_gtfs --activate first")
        if date is None:
            date = dt.datetime.now(ZoneInfo(feed.timezone)).date() - dt.timedelta(days=1)
        started = time.monotonic()
        try:
            report = demo_history_write(service_date=date, seed=seed, vehicles=vehicles)
        except HistoryError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"demo history {report.service_date}: {report.runs} runs on {report.vehicles} "
            f"vehicles ({report.missed_trips} trips not run), {report.stop_events} stop events, "
            f"{report.positions} positions, {report.predictions} predictions; "
            f"{report.dead_letters} dead letters; replaced {report.replaced_runs} runs; "
            f"{time.monotonic() - started:.1f} s"
        )
