"""Make sure the Debian packages the test suite drives are installed.

Run by `make test` (after `scripts/ensure_services.py`): Chromium for the browser tests
(the live map, the alert editor, the report pages) and promtool, from Debian's
`prometheus` package, for the alert-rule tests. A tool that is there costs nothing; one
that is missing is installed with apt-get when we are root, else the command stops with
the line that installs it. Never downloads a browser of its own (no `playwright
install`). Standard library only.

Installing `prometheus` on a host with systemd also starts a Prometheus on :9090; the
tests start their own.

Usage: python scripts/ensure_test_tools.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    name: str  # what it is for, in messages
    command: str  # found on the PATH (or an absolute path) once installed
    package: str  # the Debian package that brings it


TOOLS = (
    Tool("Chromium for the browser tests", "/usr/bin/chromium", "chromium"),
    # --no-install-recommends below: promtool is all we need, not the suggested exporters.
    Tool("promtool for the alert-rule tests", "promtool", "prometheus"),
)


def installed(tool: Tool) -> bool:
    return shutil.which(tool.command) is not None


def install(tool: Tool) -> bool:
    """apt-get install the tool's package (updating the package lists once if needed)."""
    command = ["apt-get", "install", "-y", "--no-install-recommends", tool.package]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"{tool.name} is missing: run `sudo {' '.join(command)}`", file=sys.stderr)
        return False
    print(f"{tool.name} is missing: {' '.join(command)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(command, env=env, check=False).returncode != 0:
        # The package lists may be missing or stale on a fresh machine.
        subprocess.run(["apt-get", "update"], env=env, check=False)
        subprocess.run(command, env=env, check=False)
    if not installed(tool):
        print(f"installing {tool.package} failed: run `{' '.join(command)}`", file=sys.stderr)
        return False
    return True


def main() -> int:
    missing = [tool for tool in TOOLS if not installed(tool)]
    return 0 if all([install(tool) for tool in missing]) else 1


if __name__ == "__main__":
    sys.exit(main())
