"""`make test`/`make demo` start a private Redis when none listens and the binary exists."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import redis

from tests.support.processes import ROOT, free_port


def ensure_services(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/ensure_services.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_starts_a_private_redis_on_a_free_port_and_it_answers():
    port = free_port()
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    result = ensure_services(env)
    pidfile = ROOT / ".run" / f"redis-{port}" / "redis.pid"
    try:
        assert result.returncode == 0, result.stderr
        assert f"redis 127.0.0.1:{port} started under" in result.stdout
        assert redis.Redis(port=port).ping() is True
        second = ensure_services(env)
        assert f"redis 127.0.0.1:{port} answers" in second.stdout
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


def test_missing_binary_prints_the_install_command(monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    import ensure_services

    monkeypatch.setattr(ensure_services, "find_binary", lambda *_a, **_k: None)
    error = None
    try:
        ensure_services.ensure_redis(f"redis://127.0.0.1:{free_port()}/0", "REDIS_URL")
    except ensure_services.ServiceError as caught:
        error = str(caught)
    assert error is not None
    assert "sudo apt-get install -y redis-server" in error
    assert Path(ensure_services.__file__).parent.name == "scripts"
