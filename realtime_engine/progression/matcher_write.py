"""The matcher's write: one compare-and-set script per batch for the state and what it publishes.

Writes, per run and only if its state is still the one read (a compare-and-set on the
state's ``revision`` and ``matched_at``), the new matcher state, the fixes it matched,
a checkpoint, and the values ``published`` gives (they expire a day after the last
write, so finished runs leave nothing behind). A run whose state another worker changed
meanwhile is returned as lost, for ``observer`` to read and match again; what a won
write stored is held in ``written_runs`` for the run's next batch. ``mark_replay``
marks runs whose stop events did not reach PostgreSQL. The stored layout is
``matcher_store``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import msgspec
from django.conf import settings

from databus import keys
from realtime_engine.progression import written_runs
from realtime_engine.progression.matcher_store import (
    KEY_TTL_S,
    MATCHED_AT,
    checkpoint_member,
    checkpoint_member_of,
    fix_member,
    progression_keys,
)
from realtime_engine.progression.matching import RunProgressed
from realtime_engine.progression.predictions import refresh_config
from realtime_engine.progression.published import published_fields
from realtime_engine.progression.written_runs import WrittenRun
from realtime_engine.segment_history import StopSegmentHistory
from runs.domain.progression.matching import Fix
from runs.domain.progression.prediction_refresh import RefreshConfig

# Per run six KEYS (state, fix log, checkpoints, stop status, updates, congestion), then
# the feed's dirty-run set; ARGV[1] the checkpoints kept, ARGV[2] the TTL, then one JSON
# argument per run (see ``_write_args``). Writes a run only if its state's revision and
# matched_at are still those read; replaces its stop time updates only when they were
# computed again (``refreshed``), and marks the run for the feeds only then or with a new
# congestion level; returns per run its new revision, or false when it lost the race.
RUN_KEY_COUNT = 6
_WRITE_IF_UNCHANGED = """
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
local function replace(key, fields)
  redis.call('DEL', key)
  if #fields > 0 then
    redis.call('HSET', key, unpack(fields))
    redis.call('EXPIRE', key, ttl)
  end
end
local out = {}
for i = 3, #ARGV do
  local run = cjson.decode(ARGV[i])
  local k = (i - 3) * 6
  local state_key, log_key, saved_key = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local stored = redis.call('HMGET', state_key, 'revision', 'matched_at')
  if (stored[1] or '0') ~= run.revision or (stored[2] or '') ~= run.matched_at then
    out[i - 2] = false
  else
    local revision = string.format('%.0f', math.max((tonumber(stored[1]) or 0) + 1, clock))
    redis.call('DEL', state_key)
    redis.call('HSET', state_key, 'revision', revision, unpack(run.state))
    -- Checkpoints after the start were folded without a fix matched now: superseded.
    redis.call('ZREMRANGEBYSCORE', saved_key, '(' .. run.start_at, '+inf')
    redis.call('ZADD', saved_key, run.start_at, run.start, run.end_at, run['end'])
    redis.call('ZREMRANGEBYRANK', saved_key, 0, -(limit + 1))
    for j = 1, #run.fixes, 2 do
      redis.call('ZADD', log_key, run.fixes[j], run.fixes[j + 1])
    end
    local oldest = redis.call('ZRANGE', saved_key, 0, 0, 'WITHSCORES')
    redis.call('ZREMRANGEBYSCORE', log_key, '-inf', oldest[2])
    for j = 1, 3 do redis.call('EXPIRE', KEYS[k + j], ttl) end
    if run.publish then
      replace(KEYS[k + 4], run.status)
      if run.refreshed then replace(KEYS[k + 5], run.updates) end
      if #run.congestion > 0 then replace(KEYS[k + 6], run.congestion) end
      -- The trip update (and the vehicle's stop status: a change refreshes) changed.
      if run.refreshed or #run.congestion > 0 then redis.call('SADD', KEYS[#KEYS], run.run) end
    end
    out[i - 2] = revision
  end
end
return out
"""

# KEYS: per run its progression hash and fix log; ARGV: per run the time to replay from,
# the count of fixes to log, then their (timestamp, member) pairs. Logs the fixes, keeps the
# earliest mark and moves the revision on, so a worker that read the state before the mark
# loses its compare-and-set and reads the mark (and the logged fixes).
_MARK_REPLAY = """
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
local a = 1
for i = 1, #KEYS, 2 do
  local mark = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  for j = a + 2, a + 1 + 2 * n, 2 do
    redis.call('ZADD', KEYS[i + 1], ARGV[j], ARGV[j + 1])
  end
  a = a + 2 + 2 * n
  local f = redis.call('HMGET', KEYS[i], 'revision', 'replay_from')
  if f[2] and tonumber(f[2]) and tonumber(f[2]) < mark then mark = tonumber(f[2]) end
  local revision = math.max((tonumber(f[1]) or 0) + 1, clock)
  redis.call('HSET', KEYS[i], 'replay_from', string.format('%.17g', mark),
             'revision', string.format('%.0f', revision))
end
return #KEYS / 2
"""

# The script's arguments: cjson reads msgspec's JSON as json.dumps's, and it is written
# several times faster.
_encoder = msgspec.json.Encoder()


def _flat(fields: Mapping[str, str] | None) -> list[str]:
    return [item for pair in (fields or {}).items() for item in pair]


def _write_args(
    item: RunProgressed, history: StopSegmentHistory, refresh: RefreshConfig
) -> tuple[bytes, WrittenRun]:
    """The compare-and-set script's argument for one run (JSON: strings and string lists),
    and what the worker holds of the run once it is written (``written_runs``)."""
    run, plan = item.run, item.plan
    published = published_fields(item, history, refresh)
    # The state carries what the stored updates are computed from: the new basis once
    # they are replaced, else the stored one (a refused value replaces nothing).
    basis = run.state.prediction if published is None else published.basis
    state = replace(item.step.state, prediction=basis)
    state_fields = state.to_redis()
    end = checkpoint_member_of(state_fields)
    # The start is usually the state read, whose member the worker holds from writing it.
    start = run.checkpoint if plan.start is run.state and run.checkpoint else None
    arg: dict[str, object] = {
        "run": run.run_id,
        "revision": run.basis[0],
        "matched_at": run.basis[1],
        "state": _flat(state_fields),
        "start_at": repr(plan.start.matched_at),
        "start": start or checkpoint_member(plan.start),
        "end_at": repr(state.matched_at),
        "end": end,
        "fixes": [v for fix in plan.fixes for v in (repr(fix.timestamp), fix_member(fix))],
        "publish": False,
    }
    observed = run.observed  # a refused value leaves the published updates as they were
    if published is not None:
        arg.update(
            publish=True,
            status=_flat(published.status),
            refreshed=published.refreshed,
            updates=_flat(published.updates),
            congestion=_flat(published.congestion),  # empty: kept until the next segment
        )
        observed = published.observed
    written = WrittenRun("", state_fields[MATCHED_AT], state, end, observed)
    return _encoder.encode(arg), written


def write_hot_state(
    redis_client, progressed: list[RunProgressed], history: StopSegmentHistory
) -> tuple[list[tuple[RunProgressed, int]], list[RunProgressed]]:
    """One script for the batch: (runs written with their new revision, runs that lost).
    What a run's won write stored is held for its next batch (``written_runs``)."""
    refresh = refresh_config()
    prepared = [_write_args(item, history, refresh) for item in progressed]
    replies = redis_client.eval(
        _WRITE_IF_UNCHANGED,
        RUN_KEY_COUNT * len(progressed) + 1,
        *[key for item in progressed for key in progression_keys(item.run.run_id)],
        keys.FEED_DIRTY_RUNS,
        settings.PROGRESSION_CHECKPOINTS,
        KEY_TTL_S,
        *[arg for arg, _ in prepared],
    )
    won, lost = [], []
    for item, (_, written), revision in zip(progressed, prepared, replies, strict=True):
        if revision:
            won.append((item, int(revision)))
            written_runs.remember(item.run.run_id, replace(written, revision=revision))
        else:
            lost.append(item)
            written_runs.forget(item.run.run_id)
    return won, lost


def _replay_mark(redis_client, runs: Sequence[tuple[str, float, Sequence[Fix]]]) -> None:
    """Mark each (run, replay from, fixes to log) in one script."""
    if not runs:
        return
    args: list[str] = []
    for _, mark, fixes in runs:
        args += (repr(mark), str(len(fixes)))
        for fix in fixes:
            args += (repr(fix.timestamp), fix_member(fix))
    redis_client.eval(
        _MARK_REPLAY,
        2 * len(runs),
        *[
            key
            for run_id, _, _ in runs
            for key in (keys.run_progression(run_id), keys.run_progression_fixes(run_id))
        ],
        *args,
    )


def mark_replay(redis_client, runs: list[tuple[RunProgressed, int]]) -> None:
    """The stop events of these writes did not reach PostgreSQL: the next fix replays them."""
    _replay_mark(
        redis_client, [(item.run.run_id, item.plan.fixes[0].timestamp, ()) for item, _ in runs]
    )


def hand_off(redis_client, runs: Mapping[str, list[Fix]]) -> None:
    """Log these runs' fixes and mark them for replay: a worker that keeps losing the
    compare-and-set (another writes the run faster than it can read, match and write) hands
    its fixes to whichever write comes next, instead of dropping them."""
    _replay_mark(
        redis_client,
        [
            (run_id, min(f.timestamp for f in fixes), fixes)
            for run_id, fixes in runs.items()
            if fixes
        ],
    )
