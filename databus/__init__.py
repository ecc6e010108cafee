"""The bus: Celery app and beat schedule, the Redis client, every Redis key name."""

from databus.celery import app as celery_app

__all__ = ["celery_app"]
