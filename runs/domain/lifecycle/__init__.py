"""The run lifecycle state machine as data: states, events, roles, the table, guards, decide().

Also the telemetry conditions and their thresholds (``conditions``, ``thresholds``), which
the guards admit events with and the detectors (``runs.domain.detection``, the layer
above) propose them with. Imports no other package of the domain but ``geometry`` and
``telemetry``.

Pure: imports nothing from Django, Redis or Celery (import-linter checks it).
"""
