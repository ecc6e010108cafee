"""Migrations apply on PostgreSQL and match the models."""

import io

import pytest
from django.core.management import call_command
from django.db import connection


@pytest.mark.django_db
def test_migrations_applied_on_postgresql():
    assert connection.vendor == "postgresql"
    out = io.StringIO()
    call_command("migrate", "--check", stdout=out)


@pytest.mark.django_db
def test_models_have_no_missing_migrations():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)


@pytest.mark.django_db(transaction=True)
def test_this_waves_columns_migrate_onto_a_populated_database():
    """History rows and vehicles stored before the Streams ingress keep their data: old
    positions read an empty IO bag, old vehicles no tracker, and a tracker can be set."""
    from django.db.migrations.executor import MigrationExecutor

    before = [("realtime_engine", "0004_broker_credential"), ("runs", "0002_vehicle_id_rule")]
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO runs_vehicle (id, label, license_plate, "
                "wheelchair_accessible) VALUES ('old-bus', '', '', false)"
            )
            cursor.execute(
                'INSERT INTO realtime_engine_positionrecord (vehicle_id, "timestamp", '
                "latitude, longitude, received_at) VALUES ('old-bus', now(), 38.9, -77.0, now())"
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)

    from realtime_engine.models import PositionRecord
    from runs.models import Vehicle

    assert PositionRecord.objects.get(vehicle_id="old-bus").attributes == {}
    vehicle = Vehicle.objects.get(pk="old-bus")
    assert vehicle.tracker_imei is None
    vehicle.tracker_imei = "356307042441013"
    vehicle.full_clean()
    vehicle.save()
    assert Vehicle.objects.get(tracker_imei="356307042441013").pk == "old-bus"
