"""Models of the runs app."""
