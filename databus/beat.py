"""The Celery beat schedule, as data. Each part adds its periodic tasks here."""

from __future__ import annotations

BEAT_SCHEDULE: dict[str, dict] = {}
