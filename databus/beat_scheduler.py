"""Celery beat's scheduler, made to finish the tick in hand when beat is told to stop.

celery beat handles SIGTERM and SIGINT by saving its schedule and raising SystemExit
on whatever line the main thread is at. Inside a tick that is between an entry's
``reserve`` (its next run recorded, and then saved) and its ``apply_async``: the task
is never sent, and waits a whole period (a day, for the retention purge). Here a tick
runs with those signals blocked; one that arrives meanwhile is delivered as soon as
the tick is done, where celery's own handler then stops beat losing nothing.
"""

from __future__ import annotations

import signal

from celery.beat import PersistentScheduler

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class TickFinishingScheduler(PersistentScheduler):
    def tick(self, *args, **kwargs) -> float:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            return super().tick(*args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
