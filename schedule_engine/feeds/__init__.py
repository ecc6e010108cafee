"""GTFS-Realtime feeds: pure builders from snapshot values (``snapshots``, ``builders``).

The beat task and the HTTP views (shells, written separately) read hot state into
snapshots, call the builders and store/serve the bytes.
"""
