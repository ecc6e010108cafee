"""Arrival predictions for the remaining stops of a run (pure; stdlib and ``runs.domain`` only).

``predictor.predict_stop_times`` is called by the prediction producer with the
run's schedule, its progress, the stop events observed so far and a history of
segment travel times (a value the shell loads from the stop-event table).
"""
