"""Telemetry ingress: the MQTT consumer's pieces, from topic routing to acknowledgement.

Pure planning (``topics``, ``decode``, ``batch``) is apart from the I/O shells
(``hot_state`` for Redis, ``history`` for PostgreSQL, ``dlq``, ``consumer`` for
the MQTT loop). ``realtime_engine.mqtt`` runs the consumer as a Celery worker bootstep.
"""
