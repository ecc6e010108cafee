"""Service alerts (filled in by the alerts work)."""
