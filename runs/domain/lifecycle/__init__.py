"""The run lifecycle state machine as data: states, events, roles, the table, guards, decide().

Pure: imports nothing from Django, Redis or Celery (import-linter checks it).
"""
