"""Pure run-domain code: no Django models, Redis, Celery or I/O (checked by import-linter)."""
