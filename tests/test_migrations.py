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
