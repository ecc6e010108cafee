"""No Redis key or hot-state hash field name is spelled outside ``databus/keys.py`` and the
contract modules: the production code is searched for them.

Production code: the packages import-linter checks (``root_packages`` in pyproject.toml),
without tests, migrations and docstrings (comments are not code either). Two rules:

- **Keys.** No string literal starts with the literal text of a key: a constant of
  ``databus.keys`` (``runs:tracking``, ``run:``…) or the text a key template begins with
  (``vehicle:``, ``live:ws_ticket:``…); nor does a server-side script quote one.
- **Hash fields.** A module that names a contract's key (``keys.run``, ``keys.run_trip``…)
  spells none of that contract's ``FIELDS``: not as a literal, nor quoted inside a Lua
  script. It takes them from the contract module. A module that only receives a hash
  from elsewhere is not searched: a field name such as ``trip_id`` is also a model
  field, a GTFS column and an API attribute, and only a key says which is meant.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEYS_MODULE = ROOT / "databus" / "keys.py"
CONTRACT_PACKAGES = ("runs.domain.telemetry", "runs.domain.projections")

# Each contract module and the names in ``databus.keys`` of the hash it is the contract of.
CONTRACT_KEYS: dict[str, tuple[str, ...]] = {
    "runs.domain.telemetry.position": ("vehicle_position", "VEHICLE_POSITION_PATTERN"),
    "runs.domain.telemetry.occupancy": ("vehicle_occupancy",),
    "runs.domain.telemetry.trip": ("run_trip",),
    "runs.domain.telemetry.vehicle_stop_status": ("run_vehicle_stop_status",),
    "runs.domain.telemetry.congestion_level": ("run_congestion_level",),
    "runs.domain.telemetry.stop_time_updates": ("run_stop_time_updates",),
    "runs.domain.projections.run": ("run", "RUN_KEY_PREFIX"),
    "runs.domain.projections.vehicle_metadata": ("vehicle_metadata",),
}

# Spellings still allowed, by module or package (path without ".py", relative to the
# repository) and name. Keep it short: each entry is a debt, and one no longer found fails
# the test (remove it then).
ALLOWED: dict[str, frozenset[str]] = {}

_SKIPPED_DIRS = {"tests", "migrations", "__pycache__"}


def production_files() -> Iterator[Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for package in config["tool"]["importlinter"]["root_packages"]:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = set(path.relative_to(ROOT).parts[:-1])
            if parts & _SKIPPED_DIRS or path.name.startswith("test_"):
                continue
            yield path


def contract_modules() -> dict[str, tuple[str, ...]]:
    """Every module of the contract packages that declares hash ``FIELDS``, with them."""
    found = {}
    for package_name in CONTRACT_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__, f"{package_name}."):
            module = importlib.import_module(info.name)
            if isinstance(getattr(module, "FIELDS", None), tuple):
                found[info.name] = module.FIELDS
    return found


def _module_path(module_name: str) -> Path:
    return ROOT / Path(*module_name.split(".")).with_suffix(".py")


def code_strings(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal in ``source`` that is not documentation (a
    docstring or any other bare string statement); f-strings give their literal parts."""
    tree = ast.parse(source)
    documentation = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in documentation
        ):
            yield node.lineno, node.value


def key_literals() -> tuple[str, ...]:
    """The literal text of every key: ``databus.keys``' string constants and the text each
    key template (a function returning an f-string) begins with."""
    tree = ast.parse(KEYS_MODULE.read_text())
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    literals = set(constants.values())
    for function in (node for node in tree.body if isinstance(node, ast.FunctionDef)):
        for returned in (n for n in ast.walk(function) if isinstance(n, ast.Return)):
            if not isinstance(returned.value, ast.JoinedStr):
                continue
            first = returned.value.values[0]
            if isinstance(first, ast.Constant):
                literals.add(first.value)
            elif isinstance(first.value, ast.Name):  # f"{RUN_KEY_PREFIX}{run_id}"
                literals.add(constants[first.value.id])
    return tuple(sorted(literals))


def _quoted(text: str, name: str) -> bool:
    """``name`` quoted inside a script's text ('run_lifecycle_state' in a Lua HMGET)."""
    return f"'{name}'" in text or f'"{name}"' in text


def key_spellings(path: Path, literals: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    for line, text in code_strings(path.read_text()):
        for literal in literals:
            if text.startswith(literal) or f"'{literal}" in text or f'"{literal}' in text:
                yield line, literal


def field_spellings(path: Path, contracts: dict[str, tuple[str, ...]]) -> Iterator[tuple[int, str]]:
    source = path.read_text()
    named_keys = set(re.findall(r"\bkeys\.(\w+)", source))
    fields = {
        name
        for module, module_fields in contracts.items()
        if named_keys & set(CONTRACT_KEYS.get(module, ()))
        for name in module_fields
    }
    for line, text in code_strings(source):
        for name in fields:
            if text == name or _quoted(text, name):
                yield line, name


def spellings() -> dict[str, set[tuple[int, str]]]:
    """Per production file, what it spells that only keys.py and the contracts may."""
    contracts = contract_modules()
    exempt = {KEYS_MODULE, *(_module_path(name) for name in contracts)}
    literals = key_literals()
    found: dict[str, set[tuple[int, str]]] = {}
    for path in production_files():
        if path in exempt:
            continue
        hits = {*key_spellings(path, literals), *field_spellings(path, contracts)}
        if hits:
            found[str(path.relative_to(ROOT))] = hits
    return found


def test_every_contract_module_names_the_keys_of_its_hash():
    assert sorted(contract_modules()) == sorted(CONTRACT_KEYS)
    key_names = set(vars(importlib.import_module("databus.keys")))
    assert {k for names in CONTRACT_KEYS.values() for k in names} <= key_names


def test_the_key_literals_are_read_from_keys_py():
    literals = key_literals()
    for expected in ("run:", "vehicle:", "trip:", "runs:tracking", "live:ws_ticket:"):
        assert expected in literals


def _allowance(path: str) -> str | None:
    """The ``ALLOWED`` entry covering ``path`` (the module itself, or a package holding it)."""
    for entry in ALLOWED:
        if path == f"{entry}.py" or path.startswith(f"{entry}/"):
            return entry
    return None


def test_no_key_or_hash_field_is_spelled_outside_keys_and_the_contracts():
    spelled = {
        path: sorted(
            (line, name)
            for line, name in hits
            if name not in ALLOWED.get(_allowance(path) or "", ())
        )
        for path, hits in spellings().items()
    }
    assert {path: hits for path, hits in spelled.items() if hits} == {}


def test_every_allowed_spelling_is_still_there():
    """An allowance that is no longer needed is removed, so the list only shrinks."""
    found: dict[str, set[str]] = {entry: set() for entry in ALLOWED}
    for path, hits in spellings().items():
        entry = _allowance(path)
        if entry is not None:
            found[entry] |= {name for _, name in hits}
    stale = {entry: sorted(ALLOWED[entry] - found[entry]) for entry in ALLOWED}
    assert {entry: names for entry, names in stale.items() if names} == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('pipe.hget(keys.run(rid), "route_id")', {(1, "route_id")}),
        (
            "S = \"redis.call('HMGET', ARGV[1] .. id, 'trip_id')\"\nk = keys.RUN_KEY_PREFIX",
            {(1, "trip_id")},
        ),
        ('x = f"run:{rid}:trip"', {(1, "run:")}),
        ("S = \"redis.call('GET', 'runs:tracking')\"", {(1, "runs:tracking")}),
        ('"""Reads ``run:{rid}`` and its "trip_id"."""\nk = keys.run(rid)', set()),
        # A field name with no key of its contract in sight is some other name.
        ('Run.objects.values_list("trip_id")', set()),
    ],
)
def test_the_search_finds_what_it_is_meant_to(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source)
    found = {*key_spellings(path, key_literals()), *field_spellings(path, contract_modules())}
    assert found == expected
