"""When a feed build reads the whole hot state instead of following the marks. Pure."""

from __future__ import annotations

from schedule_engine.feeds.changes import MOST_MARKED_MIN_RUNS, Marks, full_rebuild_reason
from schedule_engine.feeds.entity_cache import CacheMeta

META = CacheMeta(epoch="e1", schedule="7", full_at=1000.0, generation="g")


def reason(*, meta=META, epoch="e1", schedule="7", now=1100.0, runs=0, trips=5000):
    marks = Marks(frozenset(), frozenset(str(i) for i in range(runs)), meta, epoch, trips)
    return full_rebuild_reason(marks, schedule=schedule, now=now, interval_s=300)


def test_the_caches_suffice_while_nothing_about_them_changed():
    assert reason() is None
    assert reason(runs=MOST_MARKED_MIN_RUNS) is None  # a fifth of the trips marked


def test_each_change_of_what_the_caches_were_built_from_rebuilds_whole():
    assert reason(meta=None) == "no cache"
    assert reason(epoch="e2") == "hot state rebuilt"
    assert reason(schedule="8") == "GTFS version changed"
    assert reason(now=1300.0) == "interval"


def test_most_of_a_large_fleet_marked_rebuilds_whole_a_small_one_never():
    assert reason(runs=2500) == "most runs changed"
    assert reason(runs=MOST_MARKED_MIN_RUNS - 1, trips=MOST_MARKED_MIN_RUNS) is None
