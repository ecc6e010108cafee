"""The pending-event marker ``run:{rid}:pending_event``: a detected event waiting for its task.

Both ends are here. Detector dispatch and the stale-run scan claim it
(``pending_event_claim``) before enqueueing: set only where absent, so two workers never
enqueue one run's event twice, and expiring after ``PENDING_TTL_S``, so a lost task does
not block its run forever. The task that applied the event clears it
(``pending_event_clear``), only if it still names that event.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from databus import keys
from runs.domain.detection.detectors import RunEventRequest

# A proposal stays pending this long at most (a lost task does not block its run forever).
PENDING_TTL_S = 30

# Delete the pending marker only if it still names this event.
_CLEAR_PENDING = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def pending_event_claim(
    client: redis.Redis, requests: Iterable[RunEventRequest]
) -> list[RunEventRequest]:
    """Keep the requests whose run has no event pending; mark them pending."""
    requests = list(requests)
    if not requests:
        return []
    pipe = client.pipeline(transaction=False)
    for request in requests:
        pipe.set(
            keys.run_pending_event(request.run_id), request.event.value, nx=True, ex=PENDING_TTL_S
        )
    return [r for r, fresh in zip(requests, pipe.execute(), strict=True) if fresh]


def pending_event_clear(client: redis.Redis, run_id: str, event: str) -> None:
    """Clear ``run_id``'s marker if it still names ``event`` (a newer claim stays)."""
    client.eval(_CLEAR_PENDING, 1, keys.run_pending_event(run_id), event)
