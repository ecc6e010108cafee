"""Telemetry contracts: one module per GTFS-RT entity held in hot state.

Each contract module holds the entity's typed frozen value, its hash field
names, a tolerant ``from_redis`` (strings → typed, bad optional values dropped;
``read_stored`` also names the fields it dropped, for readers that count them) and a
strict ``validate_for_write`` (typed → strings, raises ``TelemetryRejected``). Every
numeric field is bounded by ``limits`` on both paths.
Position and occupancy also decode MQTT payloads (msgspec). Read by the MQTT
consumer (realtime_engine.ingest), the REST API, feed builders and detectors.
Pure: imports neither Django, Redis nor Celery (import-linter checks it). Redis
key names are not spelled here: they live in ``databus.keys``.
"""
