"""What the dispatchers' trip operations add to TripUpdates, decided from the stored records. Pure.

``keys.TRIP_OPERATIONS`` holds one record per operation (contract
``runs.domain.projections.trip_operations``); every build reads the whole hash with its
marks (``changes.marks_take``) and decides here, for the operations published at
``now`` (``is_published``):

- ``CANCEL``: a CANCELED TripUpdate of the trip on its date (entity ``cancel-<op id>``);
- ``ADD``: a NEW TripUpdate (or ADDED, the deprecated spelling, where the consumers need
  it: setting ``FEED_ADDED_TRIP_RELATIONSHIP``) with every stop time given, which is
  also the trip's schedule (``scheduled_time``), and its vehicle's descriptor
  (entity ``add-<op id>``);
- ``SKIP_STOPS``: the named stops SKIPPED in the TripUpdate of the run operating the
  trip on that date (``skipped_stops``, merged by ``feed_inputs``); with no such run, a
  TripUpdate of only SKIPPED stop time updates (entity ``skip-<op id>``, the lowest op
  id when several skip stops of one trip instance).

"Operating": the trip's claimant (``trip:{tid}:current_run``) is in progress and runs
the trip on that date. A CANCEL or SKIP_STOPS of a trip instance a run operates adds
no entity of its own: the run's TripUpdate says what the bus does (and two TripUpdates
of one trip instance would contradict each other).

A record the contract cannot use is reported (``HotStateSkip.BAD_TRIP_OPERATION``) and
ignored; the rest is published. ``digests`` says, per trip, what its published
operations are, so that an incremental build re-decides the runs of a trip whose
operations changed (``tasks``). Agreement with the schedule (the trip, route and stops
exist) is ``schedule_agreement``'s.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from databus import keys
from runs.domain.projections import trip_operations
from runs.domain.projections.trip_operations import TripOperationKind, TripOperationRecord
from runs.domain.telemetry import trip
from schedule_engine.feeds.builders import TRIP_UPDATES_FEED, SkipHandler
from schedule_engine.feeds.descriptors import (
    SETTINGS_DEFAULT,
    DescriptorPolicy,
    vehicle_descriptor,
)
from schedule_engine.feeds.skips import RecordReader
from schedule_engine.feeds.snapshots import (
    HotStateSkip,
    StopRelationship,
    StopTimeUpdateSnapshot,
    TripEntity,
    TripRelationship,
    TripSnapshot,
)
from schedule_engine.hot_state_read import Hash, RunHotState

CANCEL_PREFIX = "cancel-"
ADD_PREFIX = "add-"
SKIP_PREFIX = "skip-"

TripInstance = tuple[str, str]  # (trip_id, start_date)


@dataclass(frozen=True, slots=True)
class OperationsContext:
    """The hot state the operations' entities depend on: which run claims each trip
    they name (and those runs' trips and whether they are in progress), and the
    metadata of the vehicles of added trips."""

    claims: Mapping[str, str | None] = field(default_factory=dict)  # trip_id → run id
    runs: Mapping[str, RunHotState] = field(default_factory=dict)
    in_progress: frozenset[str] = frozenset()
    vehicles: Mapping[str, Hash] = field(default_factory=dict)  # vehicle id → metadata


@dataclass(frozen=True, slots=True)
class Operations:
    """What the published operations add to one build."""

    entities: tuple[TripEntity, ...] = ()  # CANCEL, ADD and run-less SKIP_STOPS entities
    skipped_stops: Mapping[TripInstance, frozenset[int]] = field(default_factory=dict)
    cancelled: frozenset[TripInstance] = frozenset()
    digests: Mapping[str, str] = field(default_factory=dict)  # trip_id → its operations


NO_OPERATIONS = Operations()


def operations_published(
    records: Hash, *, now: float, on_skip: SkipHandler | None = None
) -> tuple[TripOperationRecord, ...]:
    """The readable records of ``keys.TRIP_OPERATIONS`` published at ``now``, by op id;
    an unreadable one is reported and left out."""
    reader = RecordReader(TRIP_UPDATES_FEED, on_skip)
    published = []
    for op_id in sorted(records):
        read = trip_operations.decode(records[op_id])
        record = read.value
        if record is None:
            reader.report(
                f"{keys.TRIP_OPERATIONS} {op_id}",
                HotStateSkip.BAD_TRIP_OPERATION,
                "unreadable operation: ignored",
            )
            continue
        if trip_operations.is_published(record, now):
            published.append(record)
    return tuple(published)


def context_ids(records: Iterable[TripOperationRecord]) -> tuple[list[str], list[str]]:
    """(trip ids whose claims matter, vehicle ids whose metadata matters), sorted."""
    trips, vehicles = set(), set()
    for record in records:
        if record.kind is TripOperationKind.ADD:
            vehicles.add(record.vehicle_id)
        else:
            trips.add(record.trip_id)
    return sorted(trips), sorted(vehicles)


def operations_decide(
    records: Iterable[TripOperationRecord],
    context: OperationsContext,
    *,
    added_relationship: TripRelationship = TripRelationship.NEW,
    descriptors: DescriptorPolicy = SETTINGS_DEFAULT,
) -> Operations:
    """The entities, skipped stops and cancellations the published ``records`` add."""
    records = tuple(records)
    operating = _operating(context)
    entities: list[TripEntity] = []
    skipped: dict[TripInstance, set[int]] = defaultdict(set)
    skip_records: dict[TripInstance, TripOperationRecord] = {}
    cancelled = set()
    by_trip: dict[str, list[str]] = defaultdict(list)
    for record in records:
        instance = (record.trip_id, record.start_date)
        by_trip[record.trip_id].append(_signature(record))
        if record.kind is TripOperationKind.ADD:
            entities.append(_added(record, context, added_relationship, descriptors))
        elif record.kind is TripOperationKind.CANCEL:
            cancelled.add(instance)
            if instance not in operating:
                entities.append(_cancelled(record))
        else:
            skipped[instance].update(record.skipped_stop_sequences)
            skip_records.setdefault(instance, record)  # records come sorted by op id
    for instance, first in skip_records.items():
        if instance not in operating and instance not in cancelled:
            entities.append(_skipped_only(first, skipped[instance]))
    return Operations(
        entities=tuple(sorted(entities, key=lambda entity: entity.run_id)),
        skipped_stops={instance: frozenset(seqs) for instance, seqs in skipped.items()},
        cancelled=frozenset(cancelled),
        digests={
            trip_id: hashlib.blake2b("\n".join(sorted(sigs)).encode(), digest_size=8).hexdigest()
            for trip_id, sigs in by_trip.items()
        },
    )


def _operating(context: OperationsContext) -> frozenset[TripInstance]:
    """The trip instances an in-progress run operates, of the trips the operations name."""
    operating = set()
    for trip_id, run_id in context.claims.items():
        run = context.runs.get(run_id) if run_id else None
        if run is None or run_id not in context.in_progress:
            continue
        descriptor = trip.read_stored(run.trip).value if run.trip else None
        if descriptor is not None and descriptor.trip_id == trip_id and descriptor.start_date:
            operating.add((trip_id, descriptor.start_date))
    return frozenset(operating)


def _signature(record: TripOperationRecord) -> str:
    return trip_operations.encode(record)  # the whole record: any change is a change


def _descriptor(record: TripOperationRecord, relationship: TripRelationship) -> TripSnapshot:
    return TripSnapshot(
        trip_id=record.trip_id,
        route_id=record.route_id,
        direction_id=record.direction_id,
        start_date=record.start_date,
        start_time=record.start_time,
        relationship=relationship,
    )


def _cancelled(record: TripOperationRecord) -> TripEntity:
    return TripEntity(
        run_id=CANCEL_PREFIX + record.operation_id,
        trip=_descriptor(record, TripRelationship.CANCELED),
        timestamp=record.active_from,
    )


def _added(
    record: TripOperationRecord,
    context: OperationsContext,
    relationship: TripRelationship,
    descriptors: DescriptorPolicy,
) -> TripEntity:
    # Only NEW may carry scheduled_time (the spec forbids it for ADDED).
    scheduled = relationship is TripRelationship.NEW
    return TripEntity(
        run_id=ADD_PREFIX + record.operation_id,
        trip=_descriptor(record, relationship),
        timestamp=record.active_from,
        vehicle=vehicle_descriptor(
            record.vehicle_id, context.vehicles.get(record.vehicle_id, {}), descriptors
        ),
        stop_time_updates=tuple(
            StopTimeUpdateSnapshot(
                stop.stop_sequence, stop.stop_id, stop.arrival, stop.departure, scheduled=scheduled
            )
            for stop in record.stop_times
        ),
    )


def _skipped_only(record: TripOperationRecord, sequences: Iterable[int]) -> TripEntity:
    return TripEntity(
        run_id=SKIP_PREFIX + record.operation_id,
        trip=_descriptor(record, TripRelationship.SCHEDULED),
        timestamp=record.active_from,
        stop_time_updates=tuple(
            StopTimeUpdateSnapshot(seq, "", None, None, relationship=StopRelationship.SKIPPED)
            for seq in sorted(sequences)
        ),
    )


def with_skipped_stops(
    updates: tuple[StopTimeUpdateSnapshot, ...], sequences: frozenset[int]
) -> tuple[StopTimeUpdateSnapshot, ...]:
    """A run's predictions with the stops at ``sequences`` SKIPPED (no times); a skipped
    stop ahead of the first prediction that has none of its own is added. The stops
    before the first prediction are behind the bus: skipping them says nothing."""
    if not sequences or not updates:
        return updates
    first = min(u.stop_sequence for u in updates)
    predicted = {u.stop_sequence for u in updates}
    marked = [
        StopTimeUpdateSnapshot(
            u.stop_sequence, u.stop_id, None, None, relationship=StopRelationship.SKIPPED
        )
        if u.stop_sequence in sequences
        else u
        for u in updates
    ]
    marked += [
        StopTimeUpdateSnapshot(seq, "", None, None, relationship=StopRelationship.SKIPPED)
        for seq in sorted(sequences - predicted)
        if seq > first
    ]
    return tuple(sorted(marked, key=lambda u: u.stop_sequence))
