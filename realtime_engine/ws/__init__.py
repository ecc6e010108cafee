"""Live WebSocket updates: topics and groups, message schema, the consumer, snapshots, fan-out.

``groups``, ``messages`` and ``visibility`` are pure; ``origin``, ``auth`` and ``tickets``
admit a connection (Origin, credentials), ``topic_operators`` reads who operates a topic's
run, ``snapshot`` reads hot state, ``fanout`` writes to the channel layer, ``consumer``
serves ``/ws/live/`` (docs/api/websocket.md).
"""
