"""Run one pure function over a few shards at once, in forked copies of this process.

``forked_map(task, count)`` calls ``task(0)`` here and ``task(1)`` … ``task(count - 1)``
each in a child forked from this process, and returns the results in index order. A
child sees everything this process held when it forked (a build's outline of the fleet,
its settings), sends its result back pickled through a pipe, and exits.

Why ``os.fork`` and not ``multiprocessing``: a feed build runs in a Celery prefork pool
process, which is daemonic, and ``multiprocessing`` (and so ``concurrent.futures``)
refuses to start children of a daemonic process. A pool of long-lived processes would
also have to be sent what the build knows, which forking avoids.

What a task may do in a child: compute, and open connections of its own (redis-py's
pools open a new one in a forked process). It must not use a connection this process
opened (PostgreSQL's, through Django: its socket is shared with the parent) nor log
through a handler that writes to one. A child leaves through ``os._exit``: no ``atexit`` handler,
finaliser or buffered output of the parent's runs twice.

A child that raises, or dies (killed, out of memory), makes ``forked_map`` raise
``ShardFailed`` once every child has been reaped; the caller decides what then.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ShardFailed(RuntimeError):
    """A shard's child raised (its traceback is the message) or died."""


def forked_map(
    task: Callable[[int], T],
    count: int,
    *,
    packed: Callable[[T], object] = lambda result: result,
    unpacked: Callable[[object], T] = lambda sent: sent,  # type: ignore[assignment,return-value]
) -> list[T]:
    """``[task(0), …, task(count - 1)]``, the first computed here and the rest each in a
    forked child (see the module docstring). A child's result crosses the pipe as the
    pickle of ``packed(result)`` and is ``unpacked`` here: a compact form of many small
    objects pickles several times faster than the objects."""
    children = [_start(lambda index: packed(task(index)), index) for index in range(1, count)]
    try:
        here = task(0)
    finally:
        # Reaped whatever happens here: a child never outlives the call as a zombie.
        outcomes = [_collected(pid, read_end) for pid, read_end in children]
    failures = [str(sent) for ok, sent in outcomes if not ok]
    if failures:
        raise ShardFailed("; ".join(failures))
    return [here, *(unpacked(sent) for _, sent in outcomes)]


def _start(task: Callable[[int], object], index: int) -> tuple[int, int]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    # The child.
    status = 0
    try:
        os.close(read_end)
        try:
            payload = pickle.dumps((True, task(index)), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as error:
            status = 1
            text = "".join(traceback.format_exception(error))
            payload = pickle.dumps((False, f"shard {index}: {text}"))
        with os.fdopen(write_end, "wb") as out:
            out.write(payload)
    except BaseException:
        status = 1
    finally:
        os._exit(status)


def _collected(pid: int, read_end: int) -> tuple[bool, object]:
    """What the child sent, once it has exited: (True, result) or (False, why it failed)."""
    with os.fdopen(read_end, "rb") as incoming:
        payload = incoming.read()
    _, status = os.waitpid(pid, 0)
    if payload:
        try:
            return pickle.loads(payload)
        except Exception as error:
            return False, f"child {pid}: unreadable result ({error})"
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        return False, f"child {pid} was killed by {name}"
    return False, f"child {pid} exited with status {os.waitstatus_to_exitcode(status)}"
