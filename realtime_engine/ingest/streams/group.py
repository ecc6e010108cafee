"""The consumer group on each telemetry stream: create it, describe it, drop dead consumers.

A thin Redis shell used by the Streams consumer (``consumer.py``), ``manage.py streams``
and ``/readyz``. The group is created with MKSTREAM from id ``0``: a group made after
a gateway started writing reads what is already waiting, instead of skipping it (``$``
would drop every entry written before the first consumer started).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import redis

# The group starts at the stream's first entry (see the module docstring).
GROUP_START_ID = "0"


def default_consumer_name(hostname: str | None = None, pid: int | None = None) -> str:
    """One name per process: a restarted worker is a new consumer, and the claim pass of a
    live one takes over what its predecessor left pending."""
    return f"{hostname or socket.gethostname()}-{pid or os.getpid()}"


def ensure_group(client: redis.Redis, stream_key: str, group: str) -> bool:
    """Create ``group`` on ``stream_key`` (and the stream) unless it exists; True if created."""
    try:
        client.xgroup_create(stream_key, group, id=GROUP_START_ID, mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" in str(error):
            return False
        raise
    return True


@dataclass(frozen=True)
class GroupState:
    """XINFO GROUPS of one group: ``lag`` is None when Redis cannot tell (after an XDEL or
    a trim past undelivered entries); ``pending`` counts delivered, unacknowledged entries."""

    stream_key: str
    group: str
    consumers: int
    pending: int
    last_delivered_id: str
    lag: int | None


@dataclass(frozen=True)
class ConsumerState:
    name: str
    pending: int
    idle_ms: int


def group_state(client: redis.Redis, stream_key: str, group: str) -> GroupState | None:
    """The group's state, None when the stream or the group does not exist."""
    try:
        groups = client.xinfo_groups(stream_key)
    except redis.ResponseError as error:
        if "no such key" in str(error):
            return None
        raise
    for info in groups:
        if info["name"] == group:
            lag = info.get("lag")
            return GroupState(
                stream_key,
                group,
                int(info["consumers"]),
                int(info["pending"]),
                info["last-delivered-id"],
                None if lag is None else int(lag),
            )
    return None


def consumer_states(client: redis.Redis, stream_key: str, group: str) -> list[ConsumerState]:
    return [
        ConsumerState(info["name"], int(info["pending"]), int(info["idle"]))
        for info in client.xinfo_consumers(stream_key, group)
    ]


def idle_consumers(consumers: Sequence[ConsumerState], *, idle_ms: int) -> list[str]:
    """The consumers that may be removed: idle that long and holding nothing. A consumer with
    pending entries is never removed (XGROUP DELCONSUMER would drop them unacknowledged):
    a claim pass must take its entries first."""
    return [c.name for c in consumers if c.pending == 0 and c.idle_ms >= idle_ms]


# Atomic: the consumer may have read between the listing and the removal.
_DELETE_IF_EMPTY = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def delete_consumers(
    client: redis.Redis, stream_key: str, group: str, names: Sequence[str]
) -> list[str]:
    """Remove ``names`` from the group, each only if it still holds nothing. Returns the
    names removed."""
    script = client.register_script(_DELETE_IF_EMPTY)
    return [name for name in names if script(keys=[stream_key], args=[group, name], client=client)]
