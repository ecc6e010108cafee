"""The environment compose.prod.yml gives the web container, for tests that start Django as
production does (``check --deploy``, a uvicorn process behind a pretend proxy).

``.env.prod.example`` filled in (each empty value gets a random secret) is the env file;
the web service's ``environment`` is interpolated over it as compose does (``${VAR}``,
``${VAR:-default}``, ``${VAR:?message}``; no other forms are used there).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_REFERENCE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def filled_env_file(path: Path = ROOT / ".env.prod.example") -> dict[str, str]:
    """The example env file with a fresh random value wherever it leaves one empty."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip() or secrets.token_urlsafe(48)
    return values


def interpolate(text: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = variables.get(name, "")
        if value:
            return value
        if op == ":?":
            raise KeyError(f"{name} must be set: {arg}")
        return arg if op == ":-" else ""

    return _REFERENCE.sub(replace, text)


def web_service_env(env_file: dict[str, str] | None = None) -> dict[str, str]:
    """What Django sees in the production web container: env file, then ``environment``."""
    env_file = filled_env_file() if env_file is None else env_file
    web = yaml.safe_load((ROOT / "compose.prod.yml").read_text())["services"]["web"]
    environment = {
        name: interpolate(str(value), env_file) for name, value in web["environment"].items()
    }
    return {**env_file, **environment}


def web_healthcheck(port: int) -> list[str]:
    """The web service's compose healthcheck command, pointed at a local port."""
    web = yaml.safe_load((ROOT / "compose.prod.yml").read_text())["services"]["web"]
    kind, *command = web["healthcheck"]["test"]
    assert kind == "CMD", kind
    return [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in command]
