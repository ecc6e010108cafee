"""Write one batch's hot state to Redis in one pipeline: one Lua call plus its dead letters.

The Lua script is the atomic compare-and-set of DESIGN.md: a position or
occupancy whose timestamp is older than the stored one never overwrites it; a
newer one replaces the hash whole, and a position also raises its run's score in
``runs:last_seen`` (ZADD GT) when ``vehicle:{vid}:current_run`` is set. The script
returns that claim of every position's vehicle with the flags: the observers' first read
(which run each vehicle is on, ``AcceptedBatch.claims``) then costs no round trip of its
own. Key names come from ``databus.keys``. The same pipeline marks the batch's vehicles for the feed
build (``keys.FEED_DIRTY_VEHICLES``) and adds those with a position to
``keys.VEHICLES_LOCATED``. Called by the consumer once per flush.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from redis.exceptions import NoScriptError

from databus import keys
from realtime_engine.ingest import dlq
from realtime_engine.ingest.batch import BatchPlan
from runs.domain.telemetry import occupancy, position

# KEYS: runs:last_seen, then per position (hash key, current_run key), then per occupancy
# (hash key). ARGV: n_positions, n_occupancies, then per value: timestamp, n_fields,
# field/value pairs. Returns {flags, claims}: one flag per value, positions first (1
# written, 0 older), and per position the run claiming its vehicle ('' none).
# The field compared is the contracts' (one script serves both records).
assert occupancy.TIMESTAMP == position.TIMESTAMP
_COMPARE_AND_SET = (
    f"local TIMESTAMP = '{position.TIMESTAMP}'"
    + """
local n_positions = tonumber(ARGV[1])
local n_occupancies = tonumber(ARGV[2])
local applied = {}
local claims = {}
local k = 2
local a = 3
local function write(key)
  local ts = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  local stored = tonumber(redis.call('HGET', key, TIMESTAMP))
  local fresh = stored == nil or ts >= stored
  if fresh then
    redis.call('DEL', key)
    redis.call('HSET', key, unpack(ARGV, a + 2, a + 1 + 2 * n))
  end
  a = a + 2 + 2 * n
  return fresh, ts
end
for _ = 1, n_positions do
  local fresh, ts = write(KEYS[k])
  local run_id = redis.call('GET', KEYS[k + 1])
  if fresh and run_id then redis.call('ZADD', KEYS[1], 'GT', ts, run_id) end
  applied[#applied + 1] = fresh and 1 or 0
  claims[#claims + 1] = run_id or ''
  k = k + 2
end
for _ = 1, n_occupancies do
  local fresh = write(KEYS[k])
  applied[#applied + 1] = fresh and 1 or 0
  k = k + 1
end
return {applied, claims}
"""
)


@dataclass(frozen=True)
class HotStateResult:
    """Vehicles whose position / occupancy became the stored value, the DLQ length, and the
    run claiming each vehicle that sent a position (claimed ones only), as written."""

    applied_positions: list[str]
    applied_occupancies: list[str]
    dlq_length: int | None
    claims: dict[str, str] = field(default_factory=dict)


class HotStateWriter:
    def __init__(self, client: redis.Redis, *, dlq_maxlen: int) -> None:
        self._client = client
        self._script = client.register_script(_COMPARE_AND_SET)
        self._dlq_maxlen = dlq_maxlen

    def write(self, plan: BatchPlan) -> HotStateResult:
        """One pipeline round trip for the whole batch; raises redis errors to the caller."""
        script_keys: list[str] = [keys.RUNS_LAST_SEEN]
        args: list[str | int] = [len(plan.latest_positions), len(plan.latest_occupancies)]
        for vehicle_id, value in plan.latest_positions.items():
            script_keys += (keys.vehicle_position(vehicle_id), keys.vehicle_current_run(vehicle_id))
            _append_fields(args, value.timestamp, position.validate_for_write(value))
        for vehicle_id, value in plan.latest_occupancies.items():
            script_keys.append(keys.vehicle_occupancy(vehicle_id))
            _append_fields(args, value.timestamp, occupancy.validate_for_write(value))
        pipe = self._client.pipeline(transaction=False)
        has_values = len(script_keys) > 1
        if has_values:
            # EVALSHA queued by hand: a Script queued on a pipeline makes redis-py send
            # SCRIPT EXISTS before every execute, a second round trip per batch.
            pipe.evalsha(self._script.sha, len(script_keys), *script_keys, *args)
            # Every vehicle sent, applied or not: a mark only costs the feed a re-encode.
            pipe.sadd(keys.FEED_DIRTY_VEHICLES, *plan.latest_positions, *plan.latest_occupancies)
            if plan.latest_positions:
                # Each has a stored position now (the script keeps a newer one, or writes).
                pipe.sadd(keys.VEHICLES_LOCATED, *plan.latest_positions)
        for rejection in plan.rejections:
            pipe.xadd(
                keys.TELEMETRY_DLQ,
                dlq.entry_fields(rejection),
                maxlen=self._dlq_maxlen,
                approximate=True,
            )
        if plan.rejections:
            pipe.xlen(keys.TELEMETRY_DLQ)
        replies = pipe.execute(raise_on_error=False) if len(pipe) else []
        if has_values and isinstance(replies[0], NoScriptError):
            # Redis lost its scripts (restarted, SCRIPT FLUSH): the script alone again,
            # through the Script, which loads it; the other commands were applied.
            replies[0] = self._script(keys=script_keys, args=args)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        flags, claimed = replies[0] if has_values else ([], [])
        vehicles = [*plan.latest_positions, *plan.latest_occupancies]
        written = {index for index, flag in enumerate(flags) if flag}
        n_positions = len(plan.latest_positions)
        return HotStateResult(
            applied_positions=[v for i, v in enumerate(vehicles[:n_positions]) if i in written],
            applied_occupancies=[
                v for i, v in enumerate(vehicles[n_positions:], n_positions) if i in written
            ],
            dlq_length=replies[-1] if plan.rejections else None,
            claims={
                vid: rid for vid, rid in zip(plan.latest_positions, claimed, strict=True) if rid
            },
        )


def _append_fields(args: list, timestamp: int, fields: dict[str, str]) -> None:
    args.append(timestamp)
    args.append(len(fields))
    for pair in fields.items():
        args.extend(pair)
