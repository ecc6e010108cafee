"""Services: everything that writes run data (database and the run's hot state)."""
