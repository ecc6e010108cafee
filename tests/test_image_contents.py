"""No secret reaches the build context or the image; the code does (Docker cannot run here).

The build context is computed with Docker's own `.dockerignore` rules
(tests/support/dockerignore.py, checked below against moby/patternmatcher's test table)
over a copy of the repository's files with sample secrets dropped where they turn up
in practice; the image's files are what the Dockerfile's COPY lines take from it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from tests.support.dockerignore import context_files, is_excluded, read_patterns

ROOT = Path(__file__).resolve().parent.parent
APPS = {"alerts", "backend", "reports", "databus", "runs", "realtime_engine", "schedule_engine"}

# Where secrets and local state lie in a working checkout (or could be dropped by mistake).
SECRETS = [
    ".env",
    ".env.prod",
    ".env.local",
    "backend/.env",
    "realtime_engine/.env.prod",
    "deploy/mosquitto/passwd",
    "deploy/mosquitto/acl",
    "deploy/mosquitto/dynamic-security.json",
    "deploy/mosquitto/certs/server.key",
    "deploy/mosquitto/certs/server.crt",
    "deploy/tls/ca.pem",
    "server.key",
    "backend/certs/web.pem",
    "runs/fixtures/client.p12",
    "schedule_engine/acl",
    "realtime_engine/broker/passwd",
    ".run/postgres/pg/postgresql.conf",
    ".run/redis/dump.rdb",
    ".venv/lib/python3.11/site-packages/django/__init__.py",
    ".git/config",
    "test-artifacts/live-map.png",
    "realtime_engine/__pycache__/mqtt.cpython-311.pyc",
    "runs/tests/test_api.py",
    ".pytest_cache/v/cache/lastfailed",
]


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in listed.stdout.splitlines() if (ROOT / line).is_file()]


@pytest.fixture(scope="module")
def repo_files() -> list[str]:
    """One listing of the checkout for the whole module (others may add files meanwhile)."""
    return tracked_files()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, repo_files) -> Path:
    """A build-context folder: the repo's files (empty copies) plus the sample secrets."""
    root = tmp_path_factory.mktemp("context")
    for relative in [*repo_files, *SECRETS]:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    for name in (".dockerignore", "Dockerfile"):
        (root / name).write_text((ROOT / name).read_text())
    return root


def walk(root: Path) -> list[str]:
    return [
        (Path(folder) / name).relative_to(root).as_posix()
        for folder, _dirs, names in os.walk(root)
        for name in names
    ]


@pytest.fixture(scope="module")
def context(checkout) -> set[str]:
    return context_files(walk(checkout), (checkout / ".dockerignore").read_text())


def copy_sources(dockerfile: str) -> list[tuple[str, str]]:
    """``(source, stage)`` of every COPY that reads the build context (not ``--from``)."""
    sources, stage = [], ""
    for line in dockerfile.splitlines():
        # Only FROM and COPY lines are read: neither is continued over lines here.
        words = shlex.split(line) if line.startswith(("FROM ", "COPY ")) else []
        if words[:1] == ["FROM"]:
            stage = words[-1]
        if words[:1] != ["COPY"] or any(word.startswith("--from") for word in words):
            continue
        arguments = [word for word in words[1:] if not word.startswith("--")]
        sources += [(source, stage) for source in arguments[:-1]]
    return sources


def under(path: str, source: str) -> bool:
    source = source.rstrip("/")
    return source == "." or path == source or path.startswith(source + "/")


def image_files(context: set[str], stage: str = "runtime") -> set[str]:
    sources = [
        s for s, in_stage in copy_sources((ROOT / "Dockerfile").read_text()) if in_stage == stage
    ]
    return {path for path in context if any(under(path, source) for source in sources)}


def test_no_secret_reaches_the_build_context(context):
    assert sorted(set(SECRETS) & context) == []
    assert [path for path in context if PurePosixPath(path).name.startswith(".env")] == []


def test_the_code_and_the_lock_reach_the_build_context(context, repo_files):
    code = [path for path in repo_files if path.split("/")[0] in APPS and "/tests/" not in path]
    assert len(code) > 100
    assert sorted(set(code) - context) == []
    assert {"manage.py", "requirements.lock", "pyproject.toml", "README.md"} <= context
    assert "realtime_engine/templates/realtime_engine/live_map.html" in context
    assert "realtime_engine/static/live/live-map.js" in context


def test_every_dockerfile_copy_finds_its_source_and_nothing_else_is_sent(context):
    sources = copy_sources((ROOT / "Dockerfile").read_text())
    assert {source for source, _ in sources} >= {"manage.py", "backend", "requirements.lock"}
    for source, stage in sources:
        assert any(under(path, source) for path in context), f"{stage}: COPY {source} is empty"
    unused = {path for path in context if not any(under(path, s) for s, _ in sources)}
    assert unused == set()  # the context holds only what some COPY takes


def test_the_runtime_image_holds_code_but_no_test_no_secret_and_no_local_state(context):
    files = image_files(context)
    assert "backend/settings.py" in files
    assert "manage.py" in files
    assert not [path for path in files if "/tests/" in path or path.startswith(".")]
    assert ".dockerignore" not in files and "Dockerfile" not in files


def test_a_secret_inside_an_allowed_folder_is_still_excluded():
    patterns = read_patterns((ROOT / ".dockerignore").read_text())
    assert is_excluded("backend/.env.prod", patterns)
    assert is_excluded("realtime_engine/broker/certs/ca.crt", patterns)
    assert not is_excluded("realtime_engine/broker/credentials.py", patterns)


# moby/patternmatcher's TestMatches table (MatchesOrParentMatches: "exact" and "inexact"
# both match), so the port above decides as Docker does.
DOCKER_MATCHES = [
    ("**", "file", True),
    ("**", "dir/file", True),
    ("**/", "file", True),
    ("**/**", "dir/file", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/dir2/file", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
    ("a*/b", "a/c/b", False),
    ("a*b", "a/b", False),
    ("*.pem", "deploy/server.pem", False),  # relative to the root, not at any depth
    ("/deploy/./mosquitto/../mosquitto/passwd", "deploy/mosquitto/passwd", True),  # cleaned
]
DOCKER_MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["# *.go", "  ", "!x.go  "], "fileutils.go", False),
]


@pytest.mark.parametrize(("pattern", "path", "excluded"), DOCKER_MATCHES)
def test_one_pattern_matches_as_docker_matches_it(pattern, path, excluded):
    assert is_excluded(path, read_patterns(pattern)) is excluded


@pytest.mark.parametrize(("patterns", "path", "excluded"), DOCKER_MULTI)
def test_exceptions_and_order_as_docker_applies_them(patterns, path, excluded):
    assert is_excluded(path, read_patterns("\n".join(patterns))) is excluded
