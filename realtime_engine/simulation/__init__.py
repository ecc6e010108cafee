"""The fleet simulator behind ``manage.py simulate``.

Pure planning (no Django, Redis or MQTT; deterministic given a seed and a clock value):
- ``motion``: a vehicle's kinematics along a trip's shape (layover, legs between
  stops at scheduled-ish speed, dwell at stops, parked at the terminal);
- ``occupancy``: the load on board after each stop;
- ``faults``: which vehicle goes silent when, which invalid payloads are sent when;
- ``trips``: which trip a free vehicle takes next;
- ``clock``: simulated seconds → wall time, message timestamps and reported speeds;
- ``publishing``: the fixes and loads handed to an ingress, and the ``FleetPublisher``
  interface the simulator and the AVL replay publish through;
- ``messages``: the simulator's fixes and the MQTT payloads of the ingress contract
  (DESIGN.md).

I/O: ``runner`` (fleet records and runs through ``runs.services``, the tick loop), the two
publishers (``publisher``: MQTT; ``streams_publisher``: AVL gateway records XADDed to a
Redis Stream; the AVL replay's too) and ``ingress``, which picks one from the commands'
``--ingress``; the command ``realtime_engine/management/commands/simulate.py``.
"""
