"""Bus-level tasks."""

from celery import shared_task


@shared_task(name="databus.ping")
def ping() -> str:
    """Answer "pong": proves the broker round trip from a caller to a worker and back."""
    return "pong"
