"""Matching in timestamp order however fixes are split and batched (``plan_matching``).

``RunStore`` is what the progression producer's write script keeps of one run (state,
checkpoints, fix log, stop-event rows), applying a plan only as that script does. The
reference is one worker seeing every fix in order: the fold of ``match_position``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from runs.domain.progression.config import DEFAULT
from runs.domain.progression.matching import Fix
from runs.domain.progression.ordering import MatchPlan, in_order, match_fixes, plan_matching
from runs.domain.progression.state import MatchState
from runs.domain.progression.stop_events import StopCall
from runs.domain.progression.tests.test_matching import START, STRAIGHT, fix


@dataclass
class RunStore:
    state: MatchState = field(default_factory=lambda: MatchState(scheduled_start=START))
    checkpoints: list[MatchState] = field(default_factory=list)
    logged: list[Fix] = field(default_factory=list)
    rows: dict[int, StopCall] = field(default_factory=dict)  # the durable table, by stop
    limit: int = 16

    def deliver(self, batch: list[Fix], *, replay_from: float | None = None) -> MatchPlan:
        plan = plan_matching(
            self.state, self.checkpoints, self.logged, batch, replay_from=replay_from
        )
        matched = match_fixes(STRAIGHT, plan.start, plan.fixes, DEFAULT)
        if matched is None:
            return plan
        # As the script: later checkpoints are superseded; start and end are kept.
        kept = [c for c in self.checkpoints if c.matched_at < plan.start.matched_at]
        self.checkpoints = [*kept, plan.start, matched.step.state][-self.limit :]
        oldest = self.checkpoints[0].matched_at
        self.logged = [f for f in in_order([*self.logged, *plan.fixes]) if f.timestamp > oldest]
        self.state = matched.step.state
        for event in matched.events:
            self.rows[event.stop_sequence] = event
        return plan


def trip_fixes() -> list[Fix]:
    """A bus along STRAIGHT every 10 s: driving, dwelling at two stops, skipping others."""
    fixes, x, t = [], 0.0, 0
    while x < 3000:
        dwelling = 990 <= x <= 1010 or 1990 <= x <= 2010
        if dwelling and t % 60:  # a minute at the stops of 1000 m and 2000 m
            fixes.append(fix(t, x + (t % 3), 2.0, speed=0.0))
        else:
            x = min(x + 50.0, 3000.0)
            fixes.append(fix(t, x, 2.0 + (t % 7) / 2, speed=5.0))
        t += 10
    return fixes


def reference() -> RunStore:
    store = RunStore()
    store.deliver(trip_fixes())
    return store


def random_batches(fixes: list[Fix], rng: random.Random) -> list[list[Fix]]:
    batches, i = [], 0
    while i < len(fixes):
        size = rng.randint(1, 12)
        batches.append(fixes[i : i + size])
        i += size
    return batches


def two_workers(rng: random.Random) -> list[list[Fix]]:
    """Round-robin split, each worker batching its share, the two interleaved at random."""
    fixes = trip_fixes()
    queues = [random_batches(fixes[0::2], rng), random_batches(fixes[1::2], rng)]
    deliveries = []
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        deliveries.append(queue.pop(0))
    return deliveries


def test_every_fix_is_matched_whatever_the_batching():
    expected = reference()
    assert expected.rows[12 + 2].source.value == "observed"  # the trip had a real life
    for seed in range(5):
        store = RunStore()
        for batch in random_batches(trip_fixes(), random.Random(seed)):
            store.deliver(batch)
        assert store.state == expected.state
        assert store.rows == expected.rows


def test_two_workers_splitting_the_fixes_give_what_one_worker_gives():
    expected = reference()
    rewound = 0
    for seed in range(30):
        store = RunStore()
        for batch in two_workers(random.Random(seed)):
            rewound += store.deliver(batch).rewound
        assert store.state == expected.state, seed
        assert store.rows == expected.rows, seed
    assert rewound  # the late fixes were re-matched, not dropped


def test_a_fix_not_newer_than_the_log_changes_nothing():
    store = RunStore()
    fixes = trip_fixes()[:20]
    store.deliver(fixes)
    state = store.state
    plan = store.deliver(fixes[5:8])  # a redelivery
    assert plan.fixes == () and not plan.rewound
    assert store.state == state


def test_a_late_fix_is_matched_again_from_the_checkpoint_before_it():
    fixes = trip_fixes()[:30]
    store = RunStore()
    for f in fixes[:20]:
        store.deliver([f])
    late = fixes[10]
    store.logged = [f for f in store.logged if f != late]  # it never reached this worker
    store.checkpoints = [c for c in store.checkpoints if c.matched_at != late.timestamp]
    plan = store.deliver([late])
    assert plan.rewound
    assert plan.start.matched_at < late.timestamp
    assert plan.fixes[0] == late
    assert plan.fixes[-1] == fixes[19]  # every logged fix after it is matched again


def test_a_fix_older_than_every_checkpoint_is_dropped_and_counted():
    fixes = trip_fixes()[:30]
    store = RunStore(limit=3)
    store.deliver([fixes[0]])
    for f in fixes[2:30]:
        store.deliver([f])
    state = store.state
    plan = store.deliver([fixes[1]])  # later than the three checkpoints reach back
    assert (plan.fixes, plan.dropped) == ((), 1)
    assert store.state == state


def test_events_not_written_durably_are_produced_again_from_the_mark():
    fixes = trip_fixes()
    store = RunStore()
    store.deliver(fixes[:40])
    lost = {seq: e for seq, e in store.rows.items()}
    start = fixes[0].timestamp
    store.rows.clear()  # the upsert failed: the progression producer marks replay_from
    plan = store.deliver(fixes[40:41], replay_from=start)
    assert plan.rewound
    assert {seq: e for seq, e in store.rows.items() if seq in lost} == lost


def test_equal_timestamps_keep_one_fix_whichever_worker_holds_it():
    a, b = fix(10, 100, 0), fix(10, 120, 0)
    assert in_order([a, b]) == in_order([b, a]) == (a,)
