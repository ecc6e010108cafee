"""Detectors: pure functions from (run snapshot, latest telemetry, now) to at most one event.

Pure: imports nothing from Django, Redis or Celery. ``realtime_engine.dispatch`` and
``realtime_engine.scans`` do the I/O around them.
"""
