"""`manage.py gtfs_feeds list | activate ID | delete ID`: manage imported feed versions."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from schedule_engine.models import Feed
from schedule_engine.selectors import feed_list
from schedule_engine.services import FeedDeleteRefused, feed_activate, feed_delete


class Command(BaseCommand):
    help = "List, activate or delete imported GTFS feed versions."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="list feed versions, newest first")
        for action in ("activate", "delete"):
            actions.add_parser(action, help=f"{action} a feed version").add_argument(
                "feed_id", type=int
            )

    def handle(self, *args, action: str, **options):
        if action == "list":
            for feed in feed_list():
                marker = "*" if feed.is_current else " "
                self.stdout.write(
                    f"{marker} {feed.pk:>5}  {feed.name:<24}"
                    f" imported {feed.imported_at:%Y-%m-%d %H:%M}"
                    f"  valid {feed.valid_from or '?'}..{feed.valid_until or '?'}"
                    f"  {feed.trip_count:,} trips  {feed.stop_time_count:,} stop times"
                )
            return
        feed = Feed.objects.filter(pk=options["feed_id"]).first()
        if feed is None:
            raise CommandError(f"no feed #{options['feed_id']}")
        if action == "activate":
            feed_activate(feed=feed)
            self.stdout.write(f"feed #{feed.pk} is current")
        else:
            try:
                feed_delete(feed=feed)
            except FeedDeleteRefused as refused:
                raise CommandError(str(refused)) from None
            self.stdout.write(f"feed #{options['feed_id']} deleted")
