"""What the browser tests share: Debian's Chromium (``make test`` installs it:
scripts/ensure_test_tools.py), where screenshots go, and a record of outside requests.

The pages under test must make no outside request (their Content-Security-Policy says so,
and a transit agency's dispatch room may have no internet): every test asserts that the
recorder below stayed empty.
"""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def outside_requests_recorded(target, server) -> list[str]:
    """The URLs ``target`` (a Playwright page or context) requests from anywhere but the
    test's own ``server`` (its HTTP and WebSocket origins), appended as they happen."""
    own = (server.http, f"ws://127.0.0.1:{server.port}")
    recorded: list[str] = []
    target.on(
        "request",
        lambda request: None if request.url.startswith(own) else recorded.append(request.url),
    )
    return recorded
