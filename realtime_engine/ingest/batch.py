"""Plan one batch: admit, coalesce decoded messages per vehicle, collect history and rejections.

``plan_batch`` is pure: an ingress hands it the received messages of one flush with
the vehicles it trusts (``vehicle_registry``) and writes what the plan says (hot state,
history, dead letters, metrics). A value from a vehicle not trusted becomes an
``unknown_vehicle`` rejection here, so that it reaches neither hot state, history,
observers nor feeds, whichever ingress received it. ``AcceptedBatch`` is what batch
observers receive after the writes are safe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field

from realtime_engine.ingest.decode import Ignored, Received, Rejection
from realtime_engine.ingest.topics import TelemetryLeaf
from runs.domain.telemetry.occupancy import Occupancy
from runs.domain.telemetry.position import Position
from runs.domain.telemetry.rejection import RejectReason

UNKNOWN_ENTITY = "unknown"


@dataclass(frozen=True)
class AcceptedBatch:
    """The telemetry a batch made current, coalesced per vehicle.

    ``positions``/``occupancies`` map a vehicle id to its latest value in the batch,
    only where it became the stored hot state (an older one never does).
    ``received_at`` is when the batch's last message arrived (epoch seconds).
    ``message_count`` counts every accepted message, before coalescing.
    ``history`` is every accepted position of the batch, older ones included: the
    map-matcher matches each fix in timestamp order, also those another worker's newer
    position kept out of hot state (several workers share one subscription).
    ``claims`` maps each vehicle that sent a position to the run claiming it (claimed ones
    only), read by the hot-state write; None when not read (observers read it themselves).
    """

    positions: Mapping[str, Position]
    occupancies: Mapping[str, Occupancy]
    received_at: float
    message_count: int
    history: tuple[Position, ...] = ()
    claims: Mapping[str, str] | None = None


@dataclass
class BatchPlan:
    latest_positions: dict[str, Position] = field(default_factory=dict)
    latest_occupancies: dict[str, Occupancy] = field(default_factory=dict)
    history: list[Position] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    received: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    received_at: float = 0.0

    @property
    def accepted_count(self) -> int:
        return sum(self.accepted.values())


def _keep_latest(latest: dict, vehicle_id: str, value: Position | Occupancy) -> None:
    current = latest.get(vehicle_id)
    # Ties go to the later arrival, as the hot-state compare-and-set does.
    if current is None or value.timestamp >= current.timestamp:
        latest[vehicle_id] = value


def entity_of_topic(topic: str) -> str:
    leaf = topic.rsplit("/", 1)[-1]
    return leaf if leaf in TelemetryLeaf.__members__.values() else UNKNOWN_ENTITY


def plan_batch(received: Iterable[Received], *, vehicles: Container[str]) -> BatchPlan:
    """``vehicles``: the vehicle ids whose telemetry is accepted (``in`` is asked once per
    well-formed value; a malformed message keeps its own reason, whoever sent it)."""
    plan = BatchPlan()
    for topic, payload, item in received:
        if isinstance(item, (Position, Occupancy)) and item.vehicle_id not in vehicles:
            item = Rejection(
                topic,
                payload,
                RejectReason.UNKNOWN_VEHICLE,
                f"vehicle {item.vehicle_id!r} is not registered",
                item.received_at,
            )
        if isinstance(item, Position):
            plan.received[TelemetryLeaf.POSITION] += 1
            plan.accepted[TelemetryLeaf.POSITION] += 1
            plan.history.append(item)
            _keep_latest(plan.latest_positions, item.vehicle_id, item)
            plan.received_at = max(plan.received_at, item.received_at)
        elif isinstance(item, Occupancy):
            plan.received[TelemetryLeaf.OCCUPANCY] += 1
            plan.accepted[TelemetryLeaf.OCCUPANCY] += 1
            _keep_latest(plan.latest_occupancies, item.vehicle_id, item)
            plan.received_at = max(plan.received_at, item.received_at)
        elif isinstance(item, Ignored):
            plan.received[item.leaf] += 1
        else:
            entity = entity_of_topic(item.topic)
            plan.received[entity] += 1
            plan.rejected[(entity, item.reason.value)] += 1
            plan.rejections.append(item)
            plan.received_at = max(plan.received_at, item.received_at)
    return plan


def accepted_batch(
    plan: BatchPlan,
    applied_positions: Iterable[str],
    applied_occupancies: Iterable[str],
    claims: Mapping[str, str] | None = None,
) -> AcceptedBatch:
    """The observers' view of a written plan: only values that became hot state."""
    return AcceptedBatch(
        positions={vid: plan.latest_positions[vid] for vid in applied_positions},
        occupancies={vid: plan.latest_occupancies[vid] for vid in applied_occupancies},
        received_at=plan.received_at,
        message_count=plan.accepted_count,
        history=tuple(plan.history),
        claims=claims,
    )
