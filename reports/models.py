"""Durable data of the reports: the prediction log and the daily per-route summaries."""
