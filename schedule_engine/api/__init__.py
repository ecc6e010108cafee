"""REST API of the schedule (read-only, the current feed)."""
