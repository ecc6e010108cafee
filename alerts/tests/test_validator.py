"""The Alerts feed passes the MobilityData rules (``gtfs-rt-validator``) with no ERROR notice.

Alerts of every kind a dispatcher can give (an agency, a route type, a route and its
direction, a stop, a trip with its route and start date; several languages; a URL; current
and upcoming periods) are created through the API, the feed is built by its task and read
from ``/gtfs-rt/alerts.pb``, and the validator checks it against a zip of the same GTFS feed
the database holds.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest

from runs.tests.fixtures.feed import write_feed
from tests.support.gtfs_rt_validator import error_notices, validator_report

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def gtfs_zip(tmp_path: Path) -> Path:
    """The tiny feed the ``gtfs_feed`` fixture imports, as the zip an agency publishes."""
    folder = write_feed(tmp_path / "zip-source")
    archive = tmp_path / "gtfs.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.iterdir()):
            zipped.write(path, path.name)
    return archive


ALERTS = [
    {
        "cause": "CONSTRUCTION",
        "effect": "DETOUR",
        "severity": "WARNING",
        "header": [{"text": "Route 1 detours"}, {"language": "es", "text": "La ruta 1 se desvía"}],
        "description": [{"language": "en", "text": "Board at Stop S3."}],
        "url": [{"text": "https://example.org/detours"}],
        "active_periods": [{"start": iso(NOW - dt.timedelta(hours=1))}],
        "informed_entities": [
            {"route_id": "R1", "direction_id": 0},
            {"stop_id": "S2"},
            {"route_id": "R1", "trip_id": "T1", "trip_start_date": NOW.date().isoformat()},
        ],
    },
    {
        "effect": "NO_SERVICE",
        "header": [{"text": "No buses on the holiday"}],
        "active_periods": [
            {"start": iso(NOW + dt.timedelta(days=1)), "end": iso(NOW + dt.timedelta(days=2))}
        ],
        "informed_entities": [{"agency_id": "A1"}, {"route_type": 3}, {"trip_id": "T2"}],
    },
]


@pytest.mark.django_db
def test_the_alerts_feed_has_no_validator_errors(
    dispatcher_api, committed, gtfs_feed, redis_client, client, tmp_path: Path
):
    for body in ALERTS:
        with committed():
            assert dispatcher_api.post("/api/alerts/", body, format="json").status_code == 201
    response = client.get("/gtfs-rt/alerts.pb")
    assert response.status_code == 200
    (tmp_path / "alerts.pb").write_bytes(response.content)

    report = validator_report(gtfs_zip(tmp_path), tmp_path / "out", sa=tmp_path / "alerts.pb")
    assert report["summary"]["feedRoles"] == {"sa": str(tmp_path / "alerts.pb")}
    assert report["summary"]["messagesValidated"] == 1
    assert error_notices(report) == []
    # The one warning expected: active_period is deprecated in favour of
    # communication_period; both are published, for the consumers that read only the first.
    assert {n["code"] for n in report["notices"]} <= {"S025"}
