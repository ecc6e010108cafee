"""Stop progression: where a run's vehicle is along its trip, and which stops it has passed.

Pure code (standard library and ``runs.domain`` only). ``matching.match_position``
takes a run's trip geometry, its previous ``MatchState`` and one position fix, and
returns the new state, the published progress (distance, current/next stop,
``VehicleStopStatus``) and the stop events completed by this fix. The progression
producer (a shell in the ingress batch) stores the state in hot state with
``MatchState.to_redis`` and writes the stop events to the durable table.
"""
