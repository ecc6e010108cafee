"""``manage.py streams status|claim|trim``: operate the Redis Streams ingress.

- ``status``: per stream of ``STREAMS_KEYS``, its length and, for the group
  ``STREAMS_GROUP``, its lag (entries not yet delivered), pending (delivered, not
  acknowledged) and each consumer with its pending count and idle time.
- ``claim``: one claim pass (``ingest.streams.claim``) as a consumer of its own: what a
  consumer left pending longer than ``STREAMS_CLAIM_IDLE_MS`` is processed (hot state,
  history, dead letters) and acknowledged. ``--delete-idle-consumers`` then removes the
  consumers idle that long that hold nothing (a consumer holding entries is never removed:
  XGROUP DELCONSUMER would drop them unacknowledged).
- ``trim``: ``--maxlen N`` or ``--minid ID``, exact. Refused when it would delete an entry
  a group has not acknowledged or not read yet, unless ``--force``.

docs/operations.md, "Streams ingress", says when to use which.
"""

from __future__ import annotations

import os
import socket

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from databus.redis import get_redis
from realtime_engine.ingest.streams import group, trim


class Command(BaseCommand):
    help = "Status, claim pass and trimming of the Redis Streams ingress (STREAMS_KEYS)."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name, text in (
            ("status", "length, lag, pending and consumers per stream"),
            ("claim", "process what idle consumers left pending"),
            ("trim", "delete old entries (refused if a group still needs them)"),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument(
                "--stream", action="append", help="this stream only (default: STREAMS_KEYS)"
            )
            if name == "claim":
                action.add_argument(
                    "--delete-idle-consumers",
                    action="store_true",
                    help="then remove consumers idle over STREAMS_CLAIM_IDLE_MS holding nothing",
                )
            if name == "trim":
                cut = action.add_mutually_exclusive_group(required=True)
                cut.add_argument("--maxlen", type=int, help="keep the newest N entries")
                cut.add_argument("--minid", help="delete the entries older than this id")
                action.add_argument(
                    "--force", action="store_true", help="trim even unread or unacknowledged"
                )

    def handle(self, *args, action: str, stream: list[str] | None, **options) -> None:
        client = get_redis()
        streams = stream or list(settings.STREAMS_KEYS)
        getattr(self, f"_{action}")(client, streams, **options)

    def _status(self, client, streams: list[str], **_) -> None:
        name = settings.STREAMS_GROUP
        for key in streams:
            state = group.group_state(client, key, name)
            length = client.xlen(key)
            if state is None:
                self.stdout.write(f"{key}: length {length}, no group {name}")
                continue
            lag = "unknown" if state.lag is None else str(state.lag)
            self.stdout.write(
                f"{key}: length {length}, group {name}: lag {lag}, pending {state.pending}, "
                f"last delivered {state.last_delivered_id}, {state.consumers} consumer(s)"
            )
            for consumer in group.consumer_states(client, key, name):
                self.stdout.write(
                    f"  {consumer.name:<40} pending {consumer.pending:>7}  "
                    f"idle {consumer.idle_ms / 1000:.1f} s"
                )

    def _claim(self, client, streams: list[str], *, delete_idle_consumers: bool, **_) -> None:
        from realtime_engine.ingest.service import build_streams_consumer

        consumer = build_streams_consumer(
            consumer_name=f"manage-claim-{socket.gethostname()}-{os.getpid()}",
            stream_keys=tuple(streams),
        )
        claimed = consumer.claim_once()
        self.stdout.write(f"claimed {claimed} entr{'y' if claimed == 1 else 'ies'}")
        if not delete_idle_consumers:
            return
        name, idle_ms = settings.STREAMS_GROUP, settings.STREAMS_CLAIM_IDLE_MS
        for key in streams:
            idle = group.idle_consumers(group.consumer_states(client, key, name), idle_ms=idle_ms)
            idle.append(consumer.config.consumer_name)  # this command's own, done now
            for removed in group.delete_consumers(client, key, name, idle):
                self.stdout.write(f"{key}: removed consumer {removed}")

    def _trim(
        self, client, streams: list[str], *, maxlen: int | None, minid: str | None, force, **_
    ) -> None:
        if maxlen is not None and maxlen < 0:
            raise CommandError("--maxlen must be 0 or more")
        for key in streams:
            cut = minid if minid is not None else trim.cut_for_maxlen(client, key, maxlen)
            if cut is None:
                self.stdout.write(f"{key}: nothing to trim")
                continue
            try:
                refusal = trim.trim_refusal(cut, trim.group_floors(client, key))
            except ValueError:
                raise CommandError(f"--minid {cut!r} is not a stream id") from None
            if refusal and not force:
                raise CommandError(
                    f"{key}: not trimmed, it would delete entries a group still needs "
                    f"({refusal}); wait, claim (`manage.py streams claim`), or pass --force"
                )
            self.stdout.write(f"{key}: trimmed {trim.trim(client, key, cut)} entries before {cut}")
