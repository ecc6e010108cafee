"""Models of the schedule_engine app."""
