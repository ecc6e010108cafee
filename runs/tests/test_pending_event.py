"""The pending-event marker: claimed once per run until its task clears it or it expires."""

from __future__ import annotations

from databus import keys
from runs.domain.detection.detectors import RunEventRequest
from runs.domain.lifecycle.events import RunEvent
from runs.services.pending_event import PENDING_TTL_S, pending_event_claim, pending_event_clear

LOST = RunEventRequest("7", RunEvent.RUN_TRACKING_LOST)
STARTED = RunEventRequest("8", RunEvent.RUN_STARTED)


def test_a_run_with_an_event_pending_is_not_claimed_again(redis_client):
    assert pending_event_claim(redis_client, [LOST, STARTED]) == [LOST, STARTED]
    assert pending_event_claim(redis_client, [LOST, STARTED]) == []
    assert redis_client.get(keys.run_pending_event("7")) == RunEvent.RUN_TRACKING_LOST.value
    assert 0 < redis_client.ttl(keys.run_pending_event("7")) <= PENDING_TTL_S
    assert pending_event_claim(redis_client, []) == []


def test_the_marker_is_cleared_only_by_the_event_it_names(redis_client):
    pending_event_claim(redis_client, [LOST])
    pending_event_clear(redis_client, "7", RunEvent.RUN_STARTED.value)
    assert redis_client.get(keys.run_pending_event("7")) == RunEvent.RUN_TRACKING_LOST.value
    pending_event_clear(redis_client, "7", RunEvent.RUN_TRACKING_LOST.value)
    assert redis_client.get(keys.run_pending_event("7")) is None
    assert pending_event_claim(redis_client, [LOST]) == [LOST]
