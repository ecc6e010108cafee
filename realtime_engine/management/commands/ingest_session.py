"""``manage.py ingest_session retire --slot N``: end the broker session of a replica slot.

For a scale-down (docs/operations.md, "Ingest sessions and replicas"): a slot that
no worker will hold again still has a persistent session in the shared group, and
the broker keeps queueing its share there until MQTT_SESSION_EXPIRY_S after its
last disconnect, then drops it. This connects as that slot, unsubscribes it,
ingests what it holds (hot state, history, observers: the worker's pipeline) and
ends the session. Stop the slot's worker first.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime_engine.ingest.service import BATCH_OBSERVERS, build_consumer, ingest_client_id


class Command(BaseCommand):
    help = "Retire an ingest replica slot's MQTT session: ingest what it holds, then end it."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        retire = sub.add_parser("retire", help="ingest what the session holds, then end it")
        which = retire.add_mutually_exclusive_group(required=True)
        which.add_argument("--slot", help="the INGEST_REPLICA_SLOT scaled away")
        which.add_argument("--client-id", help="an explicit MQTT client id instead")
        retire.add_argument(
            "--timeout", type=float, default=600.0, help="give up after this many seconds"
        )

    def handle(self, *args, action: str, slot, client_id, timeout: float, **options) -> None:
        client_id = client_id or ingest_client_id(
            explicit="", replica_slot=slot, topic_root=settings.MQTT_TOPIC_ROOT, hostname=""
        )
        ingested = []
        consumer = build_consumer(
            client_id=client_id,
            retire=True,
            observers=(*BATCH_OBSERVERS, lambda batch, _: ingested.append(batch.message_count)),
        )
        thread = threading.Thread(target=consumer.run, name="ingest-retire", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            consumer.request_stop()
            thread.join(consumer.config.drain_s + 2)
        if not consumer.retired:
            raise CommandError(
                f"session {client_id} not retired (broker unreachable or still busy after "
                f"{timeout:.0f} s); run it again"
            )
        self.stdout.write(f"session {client_id} retired; {sum(ingested)} messages ingested")
