"""Make sure Debian's promtool is installed for the alert-rule tests.

Run by `make test` (like `scripts/ensure_browser.py`). If `promtool` is on the PATH,
nothing to do; if not and we are root with apt-get, install Debian's `prometheus`
package (it ships promtool; on a host with systemd the package also starts a Prometheus
on :9090, which the tests do not use); otherwise stop with the command that installs it.
``tests/test_prometheus_rules.py`` runs `promtool check rules` and `promtool test rules`
on ``deploy/prometheus/``; ``tests/test_grafana_dashboard.py`` runs the package's
`prometheus` against live processes. Standard library only.

Usage: python scripts/ensure_promtool.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# --no-install-recommends: promtool is all we need, not the exporters the package suggests.
INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"]


def main() -> int:
    if shutil.which("promtool"):
        return 0
    command = " ".join(INSTALL)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"promtool is missing for the rule tests: run `sudo {command}`", file=sys.stderr)
        return 1
    print(f"promtool is missing: {command}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(INSTALL, env=env, check=False).returncode != 0:
        # The package lists may be missing or stale on a fresh machine.
        subprocess.run(["apt-get", "update"], env=env, check=False)
        if subprocess.run(INSTALL, env=env, check=False).returncode != 0:
            print(f"installing promtool failed: run `{command}`", file=sys.stderr)
            return 1
    return 0 if shutil.which("promtool") else 1


if __name__ == "__main__":
    sys.exit(main())
