"""Contracts of the hot-state hashes that project PostgreSQL rows: ``run:{rid}`` (the run)
and ``vehicle:{vid}:metadata`` (its vehicle).

Written by the lifecycle actions (``runs.services.hot_state``), which the rebuild from
PostgreSQL performs too; read by the detectors' dispatch and scan, the WebSocket snapshot
and the feed assembly. Each module holds the hash's field names, a typed frozen value, a
tolerant ``from_redis`` (``read_stored`` also names the fields it dropped) and a strict
``validate_for_write``, as the telemetry contracts do (``runs.domain.telemetry``, whose
field helpers they reuse). A package of its own because the run projection holds the
lifecycle state (``runs.domain.lifecycle.states``), and the lifecycle imports telemetry:
here neither imports the other. Pure. Redis key names live in ``databus.keys``.
"""
