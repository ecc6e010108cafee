"""Replaying a recorded AVL trace through the broker (``manage.py replay_avl``).

``trace`` reads the CSV (the column format of ``../shared/fixtures/wmata/avl.csv``),
``plan`` turns pings into timed steps (pure), ``runner`` performs them (MQTT
publishes, lifecycle service calls).
"""
