"""The Celery round trip through the real Redis broker and a real worker process."""

import pytest

from databus.tasks import ping


@pytest.mark.django_db(transaction=True)
def test_ping_round_trip_through_a_real_worker(process_env, celery_worker_factory):
    worker = celery_worker_factory(process_env)
    try:
        assert ping.delay().get(timeout=60) == "pong"
    except Exception:
        print(worker.log())
        raise
