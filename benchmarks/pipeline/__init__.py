"""`make bench-pipeline`: the whole pipeline under N tracked vehicles, measured as operators do.

``plan`` (what is published when; the MQTT packets), ``publisher`` (the cheap paced
publisher process), ``probes`` (CPU from /proc, latencies, Redis and PostgreSQL sizes) and
``__main__`` (the stack, the ramp, the table). See ``__main__`` for what is measured.
"""
