"""``manage.py dlq list|show|replay|purge``: inspect and re-inject rejected telemetry.

Reads and edits the ``telemetry:dlq`` stream (``realtime_engine.ingest.dlq``);
``replay`` publishes letters back to the broker at ``MQTT_URL``, except those of the
Streams ingress (topic ``stream:{key}``), which it appends to their stream again
(``realtime_engine.ingest.streams.replay``). A truncated letter
(its payload cut to ``dlq.PAYLOAD_KEEP_BYTES``) is shown and purged like any other,
never replayed: named, the command refuses; selected by ``--all`` or ``--reason``, it is
skipped and counted.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from databus.redis import get_redis
from realtime_engine.ingest import dlq
from realtime_engine.ingest.replay import ReplayStopped, republish
from realtime_engine.ingest.streams.replay import is_stream_letter, readd

SCAN_COUNT = 1000


class Command(BaseCommand):
    help = "Inspect, replay or purge the telemetry dead-letter stream (telemetry:dlq)."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="one line per dead letter, oldest first")
        listing.add_argument("--limit", type=int, default=50)
        listing.add_argument("--reason", help="only this reason code")
        show = sub.add_parser("show", help="every field of one dead letter")
        show.add_argument("entry_id")
        for name, text in (
            ("replay", "publish again to the broker (or its stream), then remove"),
            ("purge", "remove without replaying"),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("entry_ids", nargs="*")
            action.add_argument("--all", action="store_true", help="every letter")
            action.add_argument("--reason", help="every letter with this reason code")

    def handle(self, *args, action: str, **options) -> None:
        client = get_redis()
        getattr(self, f"_{action}")(client, **options)

    def _list(self, client, *, limit: int, reason: str | None, **_) -> None:
        letters = [
            letter
            for letter in dlq.read(client, count=SCAN_COUNT)
            if reason is None or letter.reason == reason
        ][:limit]
        for letter in letters:
            cut = f"  [truncated, {letter.payload_length} bytes]" if letter.truncated else ""
            self.stdout.write(
                f"{letter.entry_id}  {_when(letter.received_at)}  {letter.reason:<28} "
                f"{letter.topic}  {letter.message}{cut}"
            )
        self.stdout.write(f"{len(letters)} shown, {dlq.length(client)} in total")

    def _show(self, client, *, entry_id: str, **_) -> None:
        letter = dlq.get(client, entry_id)
        if letter is None:
            raise CommandError(f"no dead letter {entry_id}")
        self.stdout.write(f"id:          {letter.entry_id}")
        self.stdout.write(f"received at: {_when(letter.received_at)}")
        self.stdout.write(f"topic:       {letter.topic}")
        self.stdout.write(f"reason:      {letter.reason}")
        self.stdout.write(f"message:     {letter.message}")
        self.stdout.write(f"length:      {letter.payload_length} bytes")
        self.stdout.write(f"sha256:      {letter.payload_sha256}")
        self.stdout.write(
            f"truncated:   yes, the first {len(letter.payload)} bytes are kept"
            if letter.truncated
            else "truncated:   no"
        )
        self.stdout.write(f"payload:     {letter.payload!r}")

    def _selected(self, client, entry_ids: list[str], every: bool, reason: str | None):
        if not (entry_ids or every or reason):
            raise CommandError("name entry ids, or pass --all or --reason")
        if entry_ids:
            letters = [dlq.get(client, entry_id) for entry_id in entry_ids]
            missing = [
                eid for eid, letter in zip(entry_ids, letters, strict=True) if letter is None
            ]
            if missing:
                raise CommandError(f"no dead letter {', '.join(missing)}")
            return letters
        letters, start = [], "-"
        while batch := dlq.read(client, count=SCAN_COUNT, start=start):
            letters += [letter for letter in batch if reason is None or letter.reason == reason]
            start = "(" + batch[-1].entry_id
        return letters

    def _replay(self, client, *, entry_ids, all: bool, reason, **_) -> None:
        letters = self._selected(client, entry_ids, all, reason)
        truncated = [letter for letter in letters if letter.truncated]
        if truncated and entry_ids:
            raise CommandError(
                f"cannot replay {', '.join(letter.entry_id for letter in truncated)}: "
                f"truncated, only the first {dlq.PAYLOAD_KEEP_BYTES} bytes of the payload were "
                "kept, so the original message cannot be sent again (remove it with "
                "`manage.py dlq purge`)"
            )
        if truncated:
            self.stderr.write(
                f"skipped {len(truncated)} truncated dead letter(s): only the first "
                f"{dlq.PAYLOAD_KEEP_BYTES} bytes of their payload were kept "
                "(`manage.py dlq list` marks them; remove them with `manage.py dlq purge`)"
            )
        whole = [letter for letter in letters if not letter.truncated]
        streamed = [letter for letter in whole if is_stream_letter(letter)]
        if streamed:
            count = readd(streamed, redis_client=client)
            self.stdout.write(f"replayed {count} dead letter(s) to their stream")
        published = [letter for letter in whole if not is_stream_letter(letter)]
        if streamed and not published:
            return
        try:
            count = republish(published, broker=settings.MQTT_ADDRESS, redis_client=client)
        except ReplayStopped as stopped:
            raise CommandError(f"{stopped}; the rest stay in the DLQ") from None
        self.stdout.write(f"replayed {count} dead letter(s) to {settings.MQTT_URL}")

    def _purge(self, client, *, entry_ids, all: bool, reason, **_) -> None:
        if all and not entry_ids and not reason:
            count = dlq.purge(client)
        else:
            letters = self._selected(client, entry_ids, all, reason)
            count = dlq.delete(client, [letter.entry_id for letter in letters])
        self.stdout.write(f"purged {count} dead letter(s)")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
