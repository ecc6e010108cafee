"""Replace a file atomically with a restrictive mode: the broker's password and ACL files.

The broker rereads both on SIGHUP, possibly while they are being written: a reader
sees the old file or the new one, never half of one, and never a moment in which
another user could read it. Used by ``realtime_engine.broker.credentials``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

# Owner read-write, group read: the broker may read the file through its group (or as
# its owner, with ``owner``); nobody else may. Mosquitto 2.0.16+ warns about a file that
# others can read, and says a later version will refuse it.
PRIVATE_MODE = 0o640


def write_private_file(
    path: Path, text: str, *, owner: tuple[int, int] | None = None, mode: int = PRIVATE_MODE
) -> None:
    """Write ``text`` to a new file beside ``path``, then rename it over ``path``.

    ``owner`` (uid, gid) hands the file to the broker's account (changing the owner
    needs root). A rename replaces the directory entry: a broker that mounts the
    directory sees the new file, one that mounts the single file keeps the old one."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
