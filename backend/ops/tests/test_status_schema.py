"""The status document a staff account gets matches the schema the API documents, with every
source answering and with the hot-state Redis down (its nullable fields null).

``tests/test_api_schema.py`` fuzzes every operation as a dispatcher, who gets this one's 403;
this is the 200's check, through the same WSGI app and schemathesis' conformance checks."""

from __future__ import annotations

import time

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.ops.tests.test_status_api import REFUSED, dead_letter, staff_client
from databus.task_records import heartbeat_set
from runs.domain.telemetry.rejection import RejectReason
from schedule_engine.feeds.tasks import feeds_publish
from tests.test_api_schema import keep_test_connection  # noqa: F401

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def status_operation(db, keep_test_connection):  # noqa: F811
    from backend.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)["/api/ops/status"]["GET"]


def staff_authorization() -> str:
    return staff_client()._credentials["HTTP_AUTHORIZATION"]


def test_the_staff_document_matches_the_schema(status_operation, redis_client):
    feeds_publish(redis_client)
    dead_letter(redis_client, RejectReason.NOT_JSON)
    heartbeat_set(redis_client, at=time.time(), identity="beat-host:1", interval_s=5.0)
    response = status_operation.Case().call_and_validate(
        headers={"Authorization": staff_authorization()}, checks=CHECKS
    )
    assert response.status_code == 200 and response.json()["dead_letters"]["length"] == 1


def test_the_document_with_redis_down_matches_the_schema(status_operation, settings):
    settings.REDIS_URL = REFUSED
    response = status_operation.Case().call_and_validate(
        headers={"Authorization": staff_authorization()}, checks=CHECKS
    )
    assert response.status_code == 200 and response.json()["feeds"]["available"] is False
