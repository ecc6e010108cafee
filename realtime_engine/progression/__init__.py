"""The progression producer: map-matching every fix of each tracked run, one batch at a time.

The consumer calls ``observer.observe_progression`` for every batch, after the batch's
hot state is safe and before the lifecycle dispatcher (the order of
``realtime_engine.ingest.service.BATCH_OBSERVERS``), so the completion detector judges
the progress this batch matched. The modules, in the order a batch goes through them:

- ``matching``: reads the batch's tracked runs and their stored matcher state, and folds
  the fixes through the pure matcher (``runs.domain.progression``);
- ``predictions``, ``congestion``, ``stop_status``: what a matched run publishes, and
  ``published``, which checks each against its contract;
- ``matcher_write``: the compare-and-set script that writes the matcher state with what
  it publishes (the stored layout is ``matcher_store``);
- ``stop_events``: the upsert of the stop events into PostgreSQL;
- ``observer``: the batch observer composing them, with the retries and the fan-out.

Import from the modules; this package re-exports nothing.
"""
