"""Stream entries as the Streams consumer holds them, and the ids Redis orders them by. Pure.

An entry's fields are empty when it was deleted (XDEL, a trim) after it was delivered:
Redis still lists it as pending, with nothing left to store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    stream_key: str
    entry_id: str
    fields: Mapping[str, str]
    # How often the group has delivered it (XPENDING's count; 1 for a first read).
    deliveries: int = 1


def entries_of_read(reply: Sequence | None) -> list[Entry]:
    """The entries of an XREADGROUP reply (``[[stream, [(id, fields), …]], …]``)."""
    return [
        Entry(stream_key, entry_id, fields or {})
        for stream_key, stream_entries in reply or ()
        for entry_id, fields in stream_entries
    ]


def ids_by_stream(entries: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """``(stream_key, entry_id)`` pairs grouped per stream, for one XACK/XCLAIM each."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for stream_key, entry_id in entries:
        grouped[stream_key].append(entry_id)
    return dict(grouped)


def parse_id(entry_id: str) -> tuple[int, int]:
    """``"1700000000000-3"`` as ``(1700000000000, 3)``: the order Redis keeps; a bare
    millisecond part (``"1700000000000"``) is sequence 0. Raises ``ValueError``."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
