"""The fix log's and checkpoints' members keep json.dumps's exact bytes (members already
stored in Redis must compare equal to the ones written now)."""

import json

from realtime_engine.progression.matcher_store import checkpoint_member_of, fix_member
from runs.domain.progression.matching import Fix


def test_fix_member_is_json_dumps_compact():
    for fix in (
        Fix(1_700_000_000.25, 38.9, -77.03, 4.5, 270.0),
        Fix(1e16, -0.0, 1e-05, None, None),
        Fix(1.0, float("nan"), float("inf"), 0.0, 359.99),
    ):
        expected = json.dumps(
            [fix.timestamp, fix.latitude, fix.longitude, fix.speed_mps, fix.bearing_deg],
            separators=(",", ":"),
        )
        assert fix_member(fix) == expected


def test_checkpoint_member_is_sorted_compact_json():
    fields = {"stop_id": "Gare é", "b": "2", "a": "1.5"}
    assert checkpoint_member_of(fields) == '{"a":"1.5","b":"2","stop_id":"Gare \\u00e9"}'
