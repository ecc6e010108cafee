"""Writes to the schedule: import a feed version, activate one, delete one.

Called by the `import_gtfs` and `gtfs_feeds` commands, the admin and tests. An
import runs in one transaction (a broken feed leaves nothing behind and the
current feed untouched); activation flips `is_current` in one transaction, so a
reader sees either the old or the new current feed, never none or two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from schedule_engine import geometry_cache
from schedule_engine.gtfs_import.errors import FeedProblem
from schedule_engine.gtfs_import.load import FeedLoader, FileRowProgress, Progress
from schedule_engine.gtfs_import.source import FeedSource
from schedule_engine.models import Feed


@dataclass(frozen=True)
class FeedImportResult:
    feed: Feed
    created: bool  # False when identical content was already imported (nothing loaded)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[FeedProblem] = field(default_factory=list)


class FeedDeleteRefused(Exception):
    pass


def feed_import(
    *,
    path: str | Path,
    name: str | None = None,
    activate: bool = False,
    progress: Progress | None = None,
    row_progress: FileRowProgress | None = None,
) -> FeedImportResult:
    """Import a GTFS zip or folder as a new feed version; raise `FeedInvalid` on errors.

    Content identical to an already imported version is not loaded again: that
    version is returned (and activated when asked).
    """
    source = FeedSource(path)
    try:
        content_hash = source.content_hash()
        existing = Feed.objects.filter(content_hash=content_hash).first()
        if existing is not None:
            if progress:
                progress(f"identical to feed #{existing.pk} ({existing.name}): skipped")
            if activate and not existing.is_current:
                feed_activate(feed=existing)
            return FeedImportResult(existing, created=False)
        with transaction.atomic():
            feed = Feed.objects.create(
                name=name or source.path.stem, source=str(source.path), content_hash=content_hash
            )
            report = FeedLoader(source, feed.pk, progress, row_progress).load()
            feed.timezone = report.timezone
            feed.valid_from, feed.valid_until = report.valid_from, report.valid_until
            feed.stop_time_count = report.counts.get("stop_times.txt", 0)
            feed.trip_count = report.counts.get("trips.txt", 0)
            feed.save()
            if activate:
                feed_activate(feed=feed)
    finally:
        source.close()
    return FeedImportResult(feed, created=True, counts=report.counts, warnings=report.warnings)


def feed_activate(*, feed: Feed) -> Feed:
    """Make ``feed`` the only current version, atomically."""
    with transaction.atomic():
        # Lock the current row(s) so two activations cannot interleave.
        list(Feed.objects.select_for_update().filter(is_current=True))
        Feed.objects.filter(is_current=True).exclude(pk=feed.pk).update(is_current=False)
        Feed.objects.filter(pk=feed.pk).update(is_current=True)
        # This process sees the switch at once; others within CURRENT_FEED_RECHECK_S.
        geometry_cache.invalidate()
        transaction.on_commit(geometry_cache.invalidate)
    feed.is_current = True
    return feed


def feed_delete(*, feed: Feed) -> None:
    """Delete a version that is not current, with all its rows."""
    if feed.is_current:
        raise FeedDeleteRefused(f"feed #{feed.pk} is current: activate another one first")
    feed.delete()
    geometry_cache.invalidate()
