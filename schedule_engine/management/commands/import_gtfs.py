"""`manage.py import_gtfs PATH [--activate] [--name NAME]`: import a GTFS zip or folder.

On a terminal, draws a progress bar per file while it loads (by bytes read), then a
line per file with its row count and time, then the warnings; on errors prints each
one (file, line, column, reason) and exits non-zero with nothing stored.
"""

from __future__ import annotations

from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from schedule_engine.gtfs_import.errors import FeedInvalid
from schedule_engine.services import feed_import

WARNINGS_SHOWN = 20
BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Import a GTFS static feed (.zip or folder) as a new feed version."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--activate", action="store_true", help="make the imported version current"
        )
        parser.add_argument("--name", help="source name (default: the file name)")

    def _bar(self, file_name: str, rows: int, fraction: float) -> None:
        """Redraw the current file's progress bar in place (terminals only)."""
        filled = round(BAR_WIDTH * fraction)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stdout.write(f"\r{file_name} [{bar}] {fraction:4.0%} {rows:,} rows", ending="")
        self.stdout.flush()

    def _line(self, text: str) -> None:
        # Clear a bar drawn on this line before the file's summary replaces it.
        self.stdout.write(f"\r\033[K{text}" if self.stdout.isatty() else text)

    def handle(self, *args, path: str, activate: bool, name: str | None, **options):
        try:
            result = feed_import(
                path=path,
                name=name,
                activate=activate,
                progress=self._line,
                row_progress=self._bar if self.stdout.isatty() else None,
            )
        except FeedInvalid as invalid:
            for problem in invalid.problems:
                self.stderr.write(f"error: {problem}")
            raise CommandError(
                f"{path}: {len(invalid.problems)} error(s); nothing imported, "
                "the current feed is unchanged"
            ) from None
        for problem in result.warnings[:WARNINGS_SHOWN]:
            self.stdout.write(f"warning: {problem}")
        if len(result.warnings) > WARNINGS_SHOWN:
            by_file = Counter(problem.file for problem in result.warnings[WARNINGS_SHOWN:])
            more = ", ".join(f"{count} in {file}" for file, count in sorted(by_file.items()))
            self.stdout.write(f"... and {more}")
        feed = result.feed
        verb = "imported" if result.created else "already imported"
        state = "current" if feed.is_current else "not current"
        self.stdout.write(self.style.SUCCESS(f"feed #{feed.pk} {feed.name}: {verb}, {state}"))
