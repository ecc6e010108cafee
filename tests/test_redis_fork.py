"""A process forked from one whose threads use Redis (celery beat embedded in a worker, the
prefork pool) reaches Redis: it does not inherit a connection pool locked by a thread that
is not there (the real Redis of REDIS_URL)."""

from __future__ import annotations

import os
import signal
import threading

from databus.redis import get_redis


def test_a_forked_child_reaches_redis_while_a_thread_of_the_parent_holds_the_pool():
    client = get_redis()
    client.ping()
    held, release = threading.Event(), threading.Event()

    def hold_the_pool_lock() -> None:
        # As a thread in the middle of taking a connection does when the fork happens.
        with client.connection_pool._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_pool_lock)
    holder.start()
    held.wait(5)
    try:
        pid = os.fork()
        if pid == 0:  # the child: a deadlock ends with the alarm, as a failure
            signal.alarm(10)
            try:
                os._exit(0 if get_redis().ping() else 1)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert os.waitstatus_to_exitcode(status) == 0
