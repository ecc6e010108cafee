"""Mosquitto password file entries: PBKDF2-SHA512 hashes in Mosquitto's ``$7$`` format.

A line of Mosquitto 2's ``password_file`` (what ``mosquitto_passwd`` writes) is
``username:$7$<iterations>$<base64 salt>$<base64 key>``: PBKDF2-HMAC-SHA512 of the
password with a 12-byte salt, a 64-byte key, standard base64 with padding. Computed
here with hashlib, so writing the file needs no Mosquitto binary. Read by
``realtime_engine.broker.credentials`` (the stored hashes) and ``acl`` (the username
rule). Pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

SALT_BYTES = 12
KEY_BYTES = 64
# Mosquitto's own default. Stretching protects guessable passwords; a vehicle's secret is
# 256 random bits (SECRET_BYTES), which no iteration count makes easier or harder to
# guess. And the single-threaded broker runs one PBKDF2 per CONNECT: at 100,000
# iterations (about 90 ms) a fleet of 1,000 reconnecting after a restart would stall
# every message for 90 s; at 101 it costs 0.2 s.
ITERATIONS = 101
SECRET_BYTES = 32
# Also a topic segment and a client id (the vehicle listener uses the username as the
# client id): nothing Mosquitto treats specially in either (":" ends the username in the
# password file, "+" and "#" make the broker deny every ACL check, blanks are trimmed).
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._@-]{1,128}")
USERNAME_RULE = "1 to 128 of A-Z a-z 0-9 . _ @ -"

_PREFIX = "$7$"


@dataclass(frozen=True)
class PasswordHash:
    iterations: int
    salt: bytes
    key: bytes

    def __str__(self) -> str:
        salt = base64.b64encode(self.salt).decode()
        key = base64.b64encode(self.key).decode()
        return f"{_PREFIX}{self.iterations}${salt}${key}"


def generate_secret() -> str:
    """A new broker password for one vehicle: 43 URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, KEY_BYTES)
    return str(PasswordHash(iterations, salt, key))


def parse_hash(text: str) -> PasswordHash:
    """The parts of a ``$7$`` hash; raises ``ValueError`` for anything else."""
    fields = text.split("$")
    if len(fields) != 5 or fields[0] or fields[1] != "7" or not fields[2].isdigit():
        raise ValueError("not a Mosquitto $7$ (PBKDF2-SHA512) hash")
    try:
        salt = base64.b64decode(fields[3], validate=True)
        key = base64.b64decode(fields[4], validate=True)
    except binascii.Error:
        raise ValueError("the salt or key of the $7$ hash is not base64") from None
    if int(fields[2]) < 1 or not salt or len(key) != KEY_BYTES:
        raise ValueError("a $7$ hash needs iterations >= 1, a salt and a 64-byte key")
    return PasswordHash(int(fields[2]), salt, key)


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded``, as the broker decides it."""
    stored = parse_hash(encoded)
    key = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), stored.salt, stored.iterations, KEY_BYTES
    )
    return hmac.compare_digest(key, stored.key)


def is_valid_username(username: str) -> bool:
    return USERNAME_PATTERN.fullmatch(username) is not None


def password_file_text(accounts: Iterable[tuple[str, str]]) -> str:
    """The password file for ``(username, $7$ hash)`` pairs, one line each, sorted."""
    accounts = sorted(accounts)
    duplicates = sorted(
        name for name, count in Counter(name for name, _ in accounts).items() if count > 1
    )
    if duplicates:
        raise ValueError(f"broker usernames used twice: {', '.join(duplicates)}")
    lines = []
    for username, encoded in accounts:
        if not is_valid_username(username):
            raise ValueError(f"broker username {username[:80]!r}: must be {USERNAME_RULE}")
        parse_hash(encoded)
        lines.append(f"{username}:{encoded}\n")
    return "".join(lines)
