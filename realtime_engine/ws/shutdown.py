"""On a graceful shutdown of the web server, live WebSockets are closed with 1001 (Going Away).

What uvicorn does on SIGTERM or SIGINT (0.54, measured): it stops listening, closes
every open WebSocket itself with 1012 (Service Restart), waits up to
``--timeout-graceful-shutdown`` for HTTP requests in flight, and only then sends the
ASGI lifespan shutdown event: too late to choose the close code, and Channels passes
consumers no shutdown of their own. So the lifespan *startup* event wraps the
server's handler of those signals: on the first signal every live connection of the
process is closed with 1001 (waiting at most ``CLOSE_WAIT_S``), then the server's
handler runs and its shutdown goes on as before (requests in flight finish). A second
signal goes straight to the server (uvicorn: a second Ctrl-C forces the exit).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from realtime_engine.ws.hub import hub

logger = logging.getLogger(__name__)

CLOSE_WAIT_S = 2.0
SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)

SignalHandler = Callable[[int, FrameType | None], Any]


async def lifespan(scope: dict, receive: Callable, send: Callable) -> None:
    """The ASGI lifespan protocol: hook the shutdown signals once the server has set its own."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            close_websockets_first(asyncio.get_running_loop())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def close_websockets_first(loop: asyncio.AbstractEventLoop) -> None:
    """Wrap the current SIGTERM/SIGINT handlers: close live WebSockets, then run them."""
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers belong to the main thread (a server run in a thread)
    for sig in SHUTDOWN_SIGNALS:
        server_handler = signal.getsignal(sig)
        if callable(server_handler) and not isinstance(server_handler, _CloseFirst):
            signal.signal(sig, _CloseFirst(loop, server_handler))


class _CloseFirst:
    def __init__(self, loop: asyncio.AbstractEventLoop, server_handler: SignalHandler) -> None:
        self.loop = loop
        self.server_handler = server_handler
        self.closing: asyncio.Future | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.closing is not None:  # a second signal: the server decides at once
            self.server_handler(signum, frame)
            return
        # A signal handler interrupts the loop between two bytecodes: schedule, never await.
        self.closing = self.loop.create_future()
        self.loop.call_soon_threadsafe(self._start, signum)

    def _start(self, signum: int) -> None:
        task = self.loop.create_task(self._close_then_hand_over(signum))
        task.add_done_callback(lambda _: self.closing.set_result(None))

    async def _close_then_hand_over(self, signum: int) -> None:
        try:
            count = len(hub.connections)
            await hub.close_all(timeout=CLOSE_WAIT_S)
            logger.info("live: closed %d WebSocket(s) with 1001 for shutdown", count)
        except Exception:
            logger.exception("live: closing WebSockets for shutdown failed")
        finally:
            self.server_handler(signum, None)
