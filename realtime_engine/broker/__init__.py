"""Broker identities: one Mosquitto account per vehicle, one for the servers, and their ACL.

``passwords`` (the ``$7$`` hash format, the password file text) and ``acl`` (the ACL
file text) are pure; ``credentials`` stores vehicles' hashes (``BrokerCredential``)
and writes both files; ``files`` replaces a file atomically with a restrictive mode.
``manage.py broker_credentials`` is the shell (docs/operations.md, "Broker credentials
and TLS").
"""
