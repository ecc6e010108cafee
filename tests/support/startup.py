"""Django's start-up in a fresh interpreter: settings are read once, at start-up, so what a
bad value in the environment does to it is seen only in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def environ_with(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment with the project's settings module and ``extra`` over it."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.settings", **extra}


def django_setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``django.setup()`` run from the repository root with exactly ``env``; stderr holds the
    ImproperlyConfigured message of a refused setting."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
