"""Make sure Debian's Chromium is installed for the live-map browser test.

Run by `make test` (after `scripts/ensure_services.py`). If `/usr/bin/chromium` is
there, nothing to do; if not and we are root with apt-get, install Debian's
`chromium` package; otherwise stop with the command that installs it. Never
downloads a browser of its own (no `playwright install`). Standard library only.

Usage: python scripts/ensure_browser.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = ["apt-get", "install", "-y", "chromium"]


def main() -> int:
    if CHROMIUM.exists():
        return 0
    command = " ".join(INSTALL)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"Chromium is missing for the browser test: run `sudo {command}`", file=sys.stderr)
        return 1
    print(f"Chromium is missing: {command}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(INSTALL, env=env, check=False).returncode != 0:
        # The package lists may be missing or stale on a fresh machine.
        subprocess.run(["apt-get", "update"], env=env, check=False)
        if subprocess.run(INSTALL, env=env, check=False).returncode != 0:
            print(f"installing Chromium failed: run `{command}`", file=sys.stderr)
            return 1
    return 0 if CHROMIUM.exists() else 1


if __name__ == "__main__":
    sys.exit(main())
