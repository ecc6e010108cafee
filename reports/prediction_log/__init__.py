"""The prediction log: what the TripUpdates feed told riders, sampled, kept for the reports.

``sample`` reads the rows out of the published feed's bytes (pure), ``storage`` writes a
sample with one COPY (the shell), ``tasks`` are the Celery tasks beat runs
(``databus.beat``: the samples, and the day partitions' maintenance that drops whole
days). The model is ``reports.models.PredictionLog``; the accuracy report
(``reports.selectors.accuracy``) joins it with the stop events.
"""
