"""A service day of recorded history for the demo and the tests (``manage.py demo_history``).

``day`` (pure) plans the day: which vehicle runs which trip and when it really reached
each stop, from a statistical model of delays over the simulator's motion planner;
``samples`` (pure) derives what the system would have recorded from that plan, the
position history and the predictions the feed would have published; ``writer`` (the
shell) reads the schedule and writes runs, stop events, positions and prediction-log rows
in one transaction, replacing that day's earlier demo rows.
"""
