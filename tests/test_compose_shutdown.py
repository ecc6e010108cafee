"""The compose files let web and beat shut down gracefully before Docker's SIGKILL.

Docker sends SIGTERM to the container's PID 1, then SIGKILL after ``stop_grace_period``
(10 s by default). A ``sh -c "a && b"`` PID 1 keeps the shell as PID 1 (dash forks
``b``), and PID 1 ignores SIGTERM: the server would never hear it.
"""

import re

import pytest

from tests.test_compose import load

COMPOSE_FILES = ["compose.dev.yml", "compose.prod.yml"]
DOCKER_DEFAULT_GRACE_S = 10


def seconds(value: str) -> int:
    return int(value.rstrip("s"))


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_web_gets_sigterm_and_has_time_to_finish_its_requests(name):
    web = load(name)["services"]["web"]
    shell_line = web["command"][-1]
    assert "exec uvicorn " in shell_line
    drain = int(re.search(r"--timeout-graceful-shutdown (\d+)", shell_line).group(1))
    assert seconds(web["stop_grace_period"]) > drain


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_beat_is_pid_1_and_stops_within_the_default_grace(name):
    beat = load(name)["services"]["beat"]
    assert beat["command"][:4] == ["celery", "-A", "databus", "beat"]  # no shell in between
    assert seconds(beat.get("stop_grace_period", f"{DOCKER_DEFAULT_GRACE_S}s")) >= 10
