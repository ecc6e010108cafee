"""``manage.py hot_state rebuild|check``: rebuild hot state from PostgreSQL, or say if it is whole.

``rebuild`` re-creates every live run's hot state (``realtime_engine.hot_state_rebuild``;
workers do it by themselves when the epoch marker is missing) and sets the marker.
``check`` exits 0 when the marker is present and 1 when it is missing (Redis lost its
data and no rebuild has run since).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from databus import keys
from databus.redis import get_redis
from realtime_engine.hot_state_rebuild import hot_state_epoch, hot_state_rebuild


class Command(BaseCommand):
    help = "Rebuild hot state (Redis) from PostgreSQL, or check the epoch marker."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("rebuild", help="rebuild every live run's hot state, set the marker")
        sub.add_parser("check", help="is the epoch marker present (exit 0) or missing (exit 1)")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(get_redis())

    def _rebuild(self, client) -> None:
        report = hot_state_rebuild(client, trigger="command")
        if not report.rebuilt:
            raise CommandError(
                f"another rebuild is under way ({keys.HOT_STATE_REBUILD_LOCK} is held); "
                "run `hot_state check` in a moment"
            )
        states = ", ".join(f"{n} {state}" for state, n in sorted(report.runs_by_state.items()))
        self.stdout.write(
            f"rebuilt {report.runs} runs ({states or 'none live'}), "
            f"{report.matcher_states} matcher states resumed, in {report.duration_s:.3f} s"
        )
        if report.epoch is None:
            raise CommandError("Redis lost its data during the rebuild: run it again")
        self.stdout.write(f"marker {keys.HOT_STATE_EPOCH} set at {_when(report.epoch)}")

    def _check(self, client) -> None:
        epoch = hot_state_epoch(client)
        if epoch is None:
            raise CommandError(
                f"marker {keys.HOT_STATE_EPOCH} missing: Redis lost hot state since the last "
                "rebuild; workers rebuild it by themselves, or run `hot_state rebuild`"
            )
        self.stdout.write(
            f"marker {keys.HOT_STATE_EPOCH} present: hot state rebuilt at {_when(epoch)}"
        )


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
