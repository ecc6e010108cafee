"""The Prometheus registry databus metrics live in.

django-prometheus exports the default registry at `/metrics`; every part
defines its metrics against ``REGISTRY`` here so there is one place to look.
"""

from prometheus_client import REGISTRY

__all__ = ["REGISTRY"]
