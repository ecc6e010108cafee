"""A full build's reading, decisions and encoding, split by entity across processes. Pure.

A full build spends most of its time reading every vehicle and run and deciding and
encoding their entities one at a time: the assembly through the contracts
(``feed_inputs``), the schedule agreement (``schedule_agreement``) and the builders
(``layout.entities_encoded``). Each vehicle's and each run's entity depends only on a
few hashes, so the build reads the fleet's outline (``hot_state_read.fleet_outline_read``:
who is located, which runs are in the sets, who claims whom), forks (``forking``), and
every process reads what ``shard_part`` names for its ``Shard`` (``fleet_part_read``)
and decides it with ``shard_decided``; ``decisions_merged`` joins what they send back.

What a shard sends back is what the rest of the build needs, and no more:

- the encoded entities and the published vehicles decoded (the process's copy of the
  caches, ``mirror``, keeps them);
- the records it reported as skipped, in order, and whose they were (``layout.Skips``);
- what the schedule agreement left out, counted;
- for the block's next trips, which the build looks up in PostgreSQL once for all shards,
  each published run's ``block_trips.leading_summary`` (its last timed stop alone);
- the trip instances it published (a cached next trip describing one is superseded);
- in the first shard, the dispatchers' operations' entities as agreed.

The build then does what it does without shards: the next trips, the operations'
entities, the layout of both payloads and the cache write. The shards together publish
the same bytes as one process (``tests/test_sharded_build.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import msgspec

from schedule_engine.feeds.block_trips import leading_summary
from schedule_engine.feeds.descriptors import DescriptorPolicy
from schedule_engine.feeds.entity_cache import CachedEntity, Kind, trip_key
from schedule_engine.feeds.feed_inputs import FeedInputs, feed_inputs_assemble
from schedule_engine.feeds.layout import Decided, Encoded, Skips, entities_encoded
from schedule_engine.feeds.mirror import PublishedVehicle
from schedule_engine.feeds.operations import Operations
from schedule_engine.feeds.schedule_agreement import ScheduleIds, Skipped, feed_inputs_agree
from schedule_engine.feeds.shard import Shard
from schedule_engine.feeds.snapshots import EntitySkip, TripEntity, VehicleEntity
from schedule_engine.feeds.store import HOT_STATE_FEEDS, FeedName
from schedule_engine.hot_state_read import FleetHotState, FleetOutline


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What every shard decides with: the fleet's outline, and the build's settings."""

    outline: FleetOutline
    now: int
    vehicle_max_age_s: float
    stop_time_update_max_age_s: float
    canceled_margin_s: float
    operations: Operations
    descriptors: DescriptorPolicy
    schedule: ScheduleIds | None


@dataclass(frozen=True, slots=True)
class ShardDecision:
    encoded: Encoded
    skips: tuple[EntitySkip, ...] = ()
    again_vehicles: frozenset[str] = frozenset()
    again_runs: frozenset[str] = frozenset()
    agreement: Skipped = field(default_factory=Counter)
    leading: tuple[TripEntity, ...] = ()
    published_trips: frozenset[str] = frozenset()
    operations: tuple[TripEntity, ...] = ()


@dataclass(frozen=True, slots=True)
class ShardPart:
    """What one shard reads of the fleet (``hot_state_read.fleet_part_read``)."""

    vehicle_ids: list[str]  # its own
    run_ids: list[str]  # its own, whole (the part read adds the vehicles they name)
    context_run_ids: list[str]  # the runs its vehicles claim, without their predictions


def shard_part(outline: FleetOutline, shard: Shard) -> ShardPart:
    """The vehicles and runs ``shard`` must read to decide its own as a whole-fleet read
    would: its located vehicles and their active runs (for the trip they carry), and its
    runs (``fleet_part_read`` adds the located vehicles they name, for their descriptors)."""
    own = [vid for vid in outline.vehicle_ids if shard.holds_vehicle(vid)]
    runs = [rid for rid in outline.run_ids if shard.holds_run(rid)]
    active = outline.tracking | outline.in_progress
    claimed = {outline.claims.get(vid) for vid in own} & active
    return ShardPart(own, runs, sorted(claimed - set(runs)))


def shard_of(context: BuildContext, index: int, count: int) -> Shard:
    return Shard(index, count, context.outline.run_claimants)


def shard_decided(context: BuildContext, shard: Shard, hot: FleetHotState) -> ShardDecision:
    """The entities of ``shard``'s vehicles and runs, decided from ``hot`` (what
    ``shard_part`` names, read) and encoded as a full build in one process decides them."""
    reported: list[EntitySkip] = []
    skips = Skips(reported.append)
    inputs = feed_inputs_assemble(
        hot,
        now=context.now,
        vehicle_max_age_s=context.vehicle_max_age_s,
        stop_time_update_max_age_s=context.stop_time_update_max_age_s,
        on_skip=skips.record,
        operations=context.operations,
        descriptors=context.descriptors,
        shard=shard,
    )
    agreement: Skipped = Counter()
    if context.schedule is not None:
        inputs, agreement = feed_inputs_agree(
            inputs,
            context.schedule,
            now=context.now,
            canceled_margin_s=context.canceled_margin_s,
        )
    decided = Decided(
        FeedInputs(vehicles=inputs.vehicles, trips=inputs.trips),
        vehicles=None,
        runs=None,
        claims={state.vehicle_id: state.current_run for state in hot.vehicles},
        canceled_until=hot.canceled_until,
        skips=skips,
    )
    written, vehicles = entities_encoded(
        decided, {}, context.schedule, context.now, context.canceled_margin_s
    )
    return ShardDecision(
        encoded=Encoded(written, vehicles),
        skips=tuple(reported),
        again_vehicles=frozenset(skips.vehicles),
        again_runs=frozenset(skips.runs),
        agreement=agreement,
        leading=_leading(inputs.trips) if context.schedule is not None else (),
        published_trips=frozenset(
            trip_key(entity.trip.trip_id, entity.trip.start_date) for entity in inputs.trips
        ),
        operations=inputs.operations,
    )


# A shard's decision as it crosses the pipe from a child (``forking``): its many small
# objects as tuples and msgpack, which pickle and load in a sixth of the time (5,000 runs:
# 11 ms against 68 ms for the records, 28 against 92 for the vehicles).
_vehicles_encoder = msgspec.msgpack.Encoder()
_vehicles_decoder = msgspec.msgpack.Decoder(list[tuple[str, VehicleEntity, str | None]])


def decision_packed(decision: ShardDecision) -> tuple:
    """``decision`` in the form a child sends it (``decision_unpacked``'s inverse)."""
    written = {
        name.value: [
            (eid, entity.kind.value, entity.number, entity.record, entity.trip)
            for eid, entity in entities.items()
        ]
        for name, entities in decision.encoded.written.items()
    }
    published = [
        (vid, vehicle.entity, vehicle.claim) for vid, vehicle in decision.encoded.vehicles.items()
    ]
    return (
        written,
        _vehicles_encoder.encode(published),
        replace(decision, encoded=Encoded({}, {})),
    )


def decision_unpacked(sent: tuple) -> ShardDecision:
    written, published, rest = sent
    return replace(
        rest,
        encoded=Encoded(
            {
                FeedName(name): {
                    eid: CachedEntity(Kind(kind), number, record, trip)
                    for eid, kind, number, record, trip in rows
                }
                for name, rows in written.items()
            },
            {
                vid: PublishedVehicle(entity, claim)
                for vid, entity, claim in _vehicles_decoder.decode(published)
            },
        ),
    )


def _leading(trips: Iterable[TripEntity]) -> tuple[TripEntity, ...]:
    return tuple(summary for entity in trips if (summary := leading_summary(entity)))


def decisions_merged(decisions: Sequence[ShardDecision]) -> ShardDecision:
    """The shards' decisions as one (their entities are disjoint)."""
    written = {name: {} for name in HOT_STATE_FEEDS}
    vehicles = {}
    agreement: Skipped = Counter()
    for decision in decisions:
        for name in HOT_STATE_FEEDS:
            written[name].update(decision.encoded.written[name])
        vehicles.update(decision.encoded.vehicles)
        agreement.update(decision.agreement)
    return ShardDecision(
        encoded=Encoded(written, vehicles),
        skips=tuple(skip for decision in decisions for skip in decision.skips),
        again_vehicles=frozenset().union(*(d.again_vehicles for d in decisions)),
        again_runs=frozenset().union(*(d.again_runs for d in decisions)),
        agreement=agreement,
        leading=tuple(entity for decision in decisions for entity in decision.leading),
        published_trips=frozenset().union(*(d.published_trips for d in decisions)),
        operations=tuple(entity for decision in decisions for entity in decision.operations),
    )
