"""Models of the realtime_engine app."""
