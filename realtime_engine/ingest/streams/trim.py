"""Trimming a telemetry stream without dropping what its consumer group still needs.

``trim_refusal`` (pure) says why a cut would lose data: an entry older than the cut that is
pending (delivered, not acknowledged: its history may not be written) or not yet delivered
to a group at all. ``manage.py streams trim`` refuses such a cut unless ``--force``. Both
MAXLEN and MINID become one MINID cut (``cut_for_maxlen``), so entries appended between
the check and the trim cannot move the cut past what was checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis

from realtime_engine.ingest.streams.entries import parse_id


@dataclass(frozen=True)
class GroupFloor:
    """The oldest entry one group still needs: its oldest pending one and its first one not
    yet delivered (None where there is none)."""

    group: str
    oldest_pending: str | None
    first_undelivered: str | None


def trim_refusal(cut_id: str, floors: Sequence[GroupFloor]) -> str | None:
    """Why trimming the entries older than ``cut_id`` would lose data, None if it would not."""
    cut = parse_id(cut_id)
    reasons = []
    for floor in floors:
        if floor.oldest_pending is not None and parse_id(floor.oldest_pending) < cut:
            reasons.append(
                f"group {floor.group} has unacknowledged entries from {floor.oldest_pending}"
            )
        if floor.first_undelivered is not None and parse_id(floor.first_undelivered) < cut:
            reasons.append(
                f"group {floor.group} has not read the entries from {floor.first_undelivered}"
            )
    return "; ".join(reasons) or None


def cut_for_maxlen(client: redis.Redis, stream_key: str, maxlen: int) -> str | None:
    """The MINID that keeps the newest ``maxlen`` entries; None when there are no more."""
    if maxlen <= 0:
        newest = client.xrevrange(stream_key, count=1)
        return None if not newest else _next_id(newest[0][0])
    kept = client.xrevrange(stream_key, count=maxlen)
    if len(kept) < maxlen:
        return None
    return kept[-1][0]


def group_floors(client: redis.Redis, stream_key: str) -> list[GroupFloor]:
    floors = []
    for info in client.xinfo_groups(stream_key):
        name = info["name"]
        summary = client.xpending(stream_key, name)
        after = client.xrange(stream_key, min=f"({info['last-delivered-id']}", count=1)
        floors.append(
            GroupFloor(
                name, summary["min"] if summary["pending"] else None, after[0][0] if after else None
            )
        )
    return floors


def trim(client: redis.Redis, stream_key: str, cut_id: str) -> int:
    """Delete the entries older than ``cut_id`` (exactly); returns how many."""
    return client.xtrim(stream_key, minid=cut_id, approximate=False)


def _next_id(entry_id: str) -> str:
    ms, seq = parse_id(entry_id)
    return f"{ms}-{seq + 1}"
