"""Arrival predictions for the remaining stops of a run (pure; stdlib and ``runs.domain`` only).

``predictor.predict_stop_times`` is called by the prediction shell
(``realtime_engine.progression.predictions``) with the run's schedule, its progress,
the stop events observed so far and a history of segment travel times (a value the
shell loads from the stop-event table). The rules live with the schedule engine
(DESIGN.md's layout) and import nothing above ``runs.domain``; the shell stays in
``realtime_engine`` because it reads the matcher's state, which that app owns.
``block_propagation`` predicts the next trip of a run's block from the run's delay at
the end of its trip (the TripUpdates feed calls it). docs/predictions.md explains both.
"""
