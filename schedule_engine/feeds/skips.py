"""Count and log, once per key, the hot-state records a reader could not use.

Every reader of hot state (the feed assembly and builders, the WebSocket snapshot, the
REST API) skips a record it cannot use, reports it here as an ``EntitySkip`` and goes
on with the rest. Each report adds one to ``databus_feed_entities_skipped_total{feed,
reason}`` (held in Redis by ``metrics``, so that a feed build in a worker's pool child is
counted where an exporter serves it; every build with the record still bad counts it
again). ``entity_skip_record`` counts at once (a reader that skips once in a while);
a ``SkipTally`` counts a whole read in one round trip (a feed build, a snapshot). Only the
first report of a (feed, key, reason) is logged, so a record that stays bad for a day does
not write a line every 15 s. The memory of logged keys is bounded (least recently
reported forgotten first). Thread-safe: WebSocket snapshots are read in a thread pool.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from typing import TypeVar

import redis

from databus.redis import get_redis
from runs.domain.telemetry.fields import StoredRead
from schedule_engine.feeds.metrics import skipped_counts_add
from schedule_engine.feeds.snapshots import EntitySkip, HotStateSkip

logger = logging.getLogger(__name__)

# Distinct (feed, key, reason) remembered as logged; a fleet has a few thousand keys.
LOGGED_KEYS_MAX = 10_000

_logged: OrderedDict[tuple[str, str, str], None] = OrderedDict()
_lock = threading.Lock()


def entity_skip_record(skip: EntitySkip) -> None:
    """Count ``skip`` now (one round trip); log it unless this (feed, key, reason) was
    logged already."""
    skipped_counts_add(get_redis(), {(skip.feed, skip.reason.value): 1})
    entity_skip_log(skip)


class SkipTally:
    """A reader's skips, logged as reported (``entity_skip_log``) and counted together
    (``flush``): a feed build at 50,000 runs with a bad contract version must not make a
    round trip per entity. Call it as an ``on_skip``."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, skip: EntitySkip) -> None:
        self.counts[skip.feed, skip.reason.value] += 1
        entity_skip_log(skip)

    def add(self, feed: str, reason: str, count: int) -> None:
        """Count ``count`` left out without a report of each (the schedule agreement's)."""
        self.counts[feed, reason] += count

    def flush(self, client: redis.Redis) -> None:
        """Add what was counted to the exported count, and start again from nothing."""
        counts, self.counts = self.counts, Counter()
        skipped_counts_add(client, counts)


def entity_skip_log(skip: EntitySkip) -> None:
    """Log ``skip`` unless this (feed, key, reason) was logged already."""
    if _first_report((skip.feed, skip.key, skip.reason.value)):
        logger.warning(
            "%s: skipped %s (%s): %s; logged once per key",
            skip.feed,
            skip.key,
            skip.reason,
            skip.detail,
        )


def _first_report(ident: tuple[str, str, str]) -> bool:
    with _lock:
        if ident in _logged:
            _logged.move_to_end(ident)
            return False
        _logged[ident] = None
        if len(_logged) > LOGGED_KEYS_MAX:
            _logged.popitem(last=False)
        return True


def logged_keys_forget() -> None:
    """Forget which keys were logged (tests; a process restart does the same)."""
    with _lock:
        _logged.clear()


_T = TypeVar("_T")


class RecordReader:
    """Takes the contracts' tolerant reads (``read_stored``) for one reader and reports what
    they could not use: a record present but unusable (its entity, or that part of it, is
    left out), or one with fields dropped for being unreadable or out of bounds (published
    without them). ``on_skip`` None: report nothing (pure callers, benchmarks)."""

    __slots__ = ("feed", "on_skip")

    def __init__(
        self, feed: str, on_skip: Callable[[EntitySkip], None] | None = entity_skip_record
    ) -> None:
        self.feed = feed
        self.on_skip = on_skip

    def use(
        self, key: str, read: StoredRead[_T], fields: Mapping[str, str], reason: HotStateSkip
    ) -> _T | None:
        """``read``'s value, after reporting it if ``fields`` held anything it could not use."""
        if read.bad_fields or (read.value is None and fields):
            self.report(key, reason, _detail(read))
        return read.value

    def read(
        self,
        key: str,
        fields: Mapping[str, str],
        read_stored: Callable[[Mapping[str, str]], StoredRead[_T]],
        reason: HotStateSkip,
    ) -> _T | None:
        """The value a contract's ``read_stored`` makes of ``fields`` (None for an absent
        hash), reporting what it could not use."""
        if not fields:
            return None
        return self.use(key, read_stored(fields), fields, reason)

    def report(self, key: str, reason: HotStateSkip, detail: str) -> None:
        if self.on_skip is not None:
            self.on_skip(EntitySkip(feed=self.feed, key=key, reason=reason, detail=detail))


def _detail(read: StoredRead) -> str:
    fields = ", ".join(read.bad_fields) or "a required field is missing"
    if read.value is None:
        return f"unusable ({fields}): left out"
    return f"unusable {fields}: published without"
