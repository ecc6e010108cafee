"""``manage.py migrate`` under a PostgreSQL advisory lock: instances that start at once take turns.

Every web container migrates before it serves (compose.prod.yml), so two replicas
or a redeploy start two ``migrate`` at once. Unserialised, both apply the same
migration and one fails (measured: one of two exits 1 on a duplicate table). Here
each waits for the lock, then sees what the other applied and has nothing left to
do. The lock belongs to the migrating connection's session: PostgreSQL releases it
if the process dies, so a crashed deploy never leaves it held.

The waiting instance polls (``pg_try_advisory_lock`` every ``POLL_S``) rather than block in
``pg_advisory_lock``: a blocked statement is an open transaction, and a migration that
builds an index CONCURRENTLY waits for every open transaction, so the two deadlocked
(PostgreSQL cancelled the index build, leaving the non-atomic migration half applied).
"""

from __future__ import annotations

import time

from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import connections

# One key for the whole project (advisory locks are per database): b"databus\x00" as an int64.
MIGRATE_LOCK_KEY = 0x6461746162757300
POLL_S = 0.5


class Command(DjangoMigrateCommand):
    help = DjangoMigrateCommand.help + " Serialised by a PostgreSQL advisory lock."

    def handle(self, *args, **options):
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            return super().handle(*args, **options)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
            if not cursor.fetchone()[0]:
                if options["verbosity"] >= 1:
                    self.stdout.write("Waiting for another instance's migrate to finish…")
                while True:
                    time.sleep(POLL_S)
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
                    if cursor.fetchone()[0]:
                        break
        try:
            return super().handle(*args, **options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_KEY])
