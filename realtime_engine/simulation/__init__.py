"""The fleet simulator behind ``manage.py simulate``.

Pure planning (no Django, Redis or MQTT; deterministic given a seed and a clock value):
- ``motion``: a vehicle's kinematics along a trip's shape (layover, legs between
  stops at scheduled-ish speed, dwell at stops, parked at the terminal);
- ``occupancy``: the load on board after each stop;
- ``faults``: which vehicle goes silent when, which invalid payloads are sent when;
- ``trips``: which trip a free vehicle takes next;
- ``clock``: simulated seconds → wall time, message timestamps and reported speeds;
- ``messages``: the MQTT payloads of the ingress contract (DESIGN.md).

I/O: ``runner`` (fleet records and runs through ``runs.services``, the tick loop) and
``publisher`` (the one MQTT telemetry publisher, the AVL replay's too); the command
``realtime_engine/management/commands/simulate.py``.
"""
