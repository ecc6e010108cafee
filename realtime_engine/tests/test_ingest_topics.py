"""The vehicle id rule of the topic router (``runs.domain.telemetry.limits``): one rule for
every vehicle id ingest reads. Pure."""

from __future__ import annotations

import pytest

from realtime_engine.ingest.topics import TelemetryLeaf, parse_topic
from runs.domain.telemetry.rejection import RejectReason, TelemetryRejected

ROOT = "transit"


@pytest.mark.parametrize("vehicle_id", ["V1", "bus-7", "bus_7.a", "7", "x", ".hidden", "a" * 64])
def test_ids_with_a_letter_or_digit_are_accepted(vehicle_id):
    topic = f"{ROOT}/vehicle/{vehicle_id}/position"
    assert parse_topic(topic, ROOT) == (vehicle_id, TelemetryLeaf.POSITION)


@pytest.mark.parametrize(
    "vehicle_id",
    [".", "..", "...", "-", "---", ".-.", "-.-", "_", "._-", "a" * 65, "bus 7", "bus+", "bü"],
)
def test_ids_without_a_letter_or_digit_or_outside_the_set_are_refused(vehicle_id):
    with pytest.raises(TelemetryRejected) as refused:
        parse_topic(f"{ROOT}/vehicle/{vehicle_id}/position", ROOT)
    assert refused.value.reason is RejectReason.INVALID_VEHICLE_ID
    assert "at least one letter or digit" in refused.value.detail
