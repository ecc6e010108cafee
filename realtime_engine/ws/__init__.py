"""Live WebSocket updates: topics and groups, message schema, the consumer, snapshots, fan-out.

``groups`` and ``messages`` are pure; ``snapshot`` reads hot state, ``fanout`` writes to
the channel layer, ``consumer`` serves ``/ws/live/`` (docs/api/websocket.md).
"""
