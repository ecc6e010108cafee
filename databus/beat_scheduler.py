"""Celery beat's scheduler, made to finish the tick in hand when beat is told to stop.

celery beat handles SIGTERM and SIGINT by saving its schedule and raising SystemExit
on whatever line the main thread is at. Inside a tick that is between an entry's
``reserve`` (its next run recorded, and then saved) and its ``apply_async``: the task
is never sent, and waits a whole period (a day, for the retention purge). Here a tick
runs with those signals held: a signal that arrives meanwhile is handed to beat's own
handler as soon as the tick is done, which then stops beat losing nothing. Held in
Python, not with the thread's signal mask: the kernel gives a process's signal to any
thread that does not block it, and Python runs the handler in the main thread anyway.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from celery.beat import PersistentScheduler

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TickFinishingScheduler(PersistentScheduler):
    def tick(self, *args, **kwargs) -> float:
        if threading.current_thread() is not threading.main_thread():
            return super().tick(*args, **kwargs)  # beat embedded in a thread: no signals here
        held: list[int] = []

        def hold(signum: int, frame: FrameType | None) -> None:
            held.append(signum)

        handlers = {sig: signal.signal(sig, hold) for sig in STOP_SIGNALS}
        try:
            return super().tick(*args, **kwargs)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            if held:
                _deliver(held[0], handlers[held[0]])


def _deliver(signum: int, handler) -> None:
    """Run what would have run had the signal come between ticks."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)
