"""The pure halves of the broker accounts: the ``$7$`` hash format and the ACL file text.

The hash is checked against the real ``mosquitto_passwd``; what the broker makes of
both files is in test_broker_credentials.py.
"""

from __future__ import annotations

import shutil
import string
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_engine.broker.acl import acl_file_text
from realtime_engine.broker.passwords import (
    ITERATIONS,
    KEY_BYTES,
    SALT_BYTES,
    generate_secret,
    hash_password,
    parse_hash,
    password_file_text,
    verify_password,
)

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
A_HASH = hash_password("x")


def mosquitto_passwd_hash(tmp_path, password: str) -> str:
    path = tmp_path / "passwd"
    subprocess.run(
        [MOSQUITTO_PASSWD, "-b", "-c", str(path), "bus-1", password],
        check=True,
        capture_output=True,
    )
    username, encoded = path.read_text().strip().split(":", 1)
    assert username == "bus-1"
    return encoded


@pytest.mark.parametrize("password", ["s3cret", generate_secret(), "pässwörd with spaces"])
def test_our_hash_is_byte_for_byte_mosquitto_passwds(tmp_path, password):
    theirs = mosquitto_passwd_hash(tmp_path, password)
    parsed = parse_hash(theirs)

    assert (parsed.iterations, len(parsed.salt), len(parsed.key)) == (
        ITERATIONS,
        SALT_BYTES,
        KEY_BYTES,
    )
    assert hash_password(password, salt=parsed.salt, iterations=parsed.iterations) == theirs
    assert verify_password(password, theirs)
    assert not verify_password(password + "x", theirs)


def test_each_hash_has_its_own_salt():
    assert hash_password("same") != hash_password("same")


def test_secrets_are_256_random_bits_in_url_safe_text():
    secrets = {generate_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert len(secret) == 43
        assert set(secret) <= set(string.ascii_letters + string.digits + "-_")


@settings(max_examples=50, deadline=None)
@given(password=st.text(min_size=1, max_size=64))
def test_any_password_verifies_against_its_hash_and_no_other(password):
    encoded = hash_password(password)
    assert verify_password(password, encoded)
    # Not password + "\0": HMAC pads a short key with zeros, so that one matches too.
    assert not verify_password(password + "x", encoded)


@pytest.mark.parametrize(
    "text",
    [
        "plaintext",
        "$6$rounds=5000$salt$hash",  # crypt's SHA-512, not PBKDF2
        "$7$$c2FsdA==$" + "A" * 88,  # no iteration count
        "$7$0$c2FsdHNhbHRzYWx0$" + "A" * 86 + "==",  # zero iterations
        "$7$101$not base64!$" + "A" * 86 + "==",
        "$7$101$c2FsdHNhbHRzYWx0$c2hvcnQ=",  # a key that is not 64 bytes
        "$7$101$$" + "A" * 86 + "==",  # no salt
        "$7$101$c2FsdHNhbHRzYWx0$" + "A" * 86 + "==$extra",
    ],
)
def test_anything_but_a_pbkdf2_sha512_hash_is_refused(text):
    with pytest.raises(ValueError):
        parse_hash(text)


def test_the_password_file_has_one_sorted_line_per_account():
    bus_2, service = hash_password("b"), hash_password("s")
    text = password_file_text([("bus-2", bus_2), ("databus", service)])
    assert text == f"bus-2:{bus_2}\ndatabus:{service}\n"


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        ([("bus-1", A_HASH), ("bus-1", A_HASH)], "used twice: bus-1"),
        ([("bus:1", A_HASH)], "broker username"),  # ":" ends the username in the file
        ([("bus 1", A_HASH)], "broker username"),
        ([("bus+1", A_HASH)], "broker username"),  # Mosquitto denies every ACL check to it
        ([("", A_HASH)], "broker username"),
        ([("bus-1", "not-a-hash")], "not a Mosquitto"),
    ],
)
def test_a_password_file_that_mosquitto_would_misread_is_refused(accounts, message):
    with pytest.raises(ValueError, match=message):
        password_file_text(accounts)


def test_the_acl_grants_each_vehicle_its_own_topics_and_the_service_account_the_rest():
    text = acl_file_text(
        root="fleet/transit", service_username="databus", vehicle_ids=["bus-2", "bus-1", "bus-2"]
    )
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules == [
        "user databus",
        "topic readwrite fleet/transit/vehicle/+/+",
        "topic read $SYS/broker/uptime",
        "user bus-1",
        "topic write fleet/transit/vehicle/bus-1/#",
        "user bus-2",
        "topic write fleet/transit/vehicle/bus-2/#",
    ]


def test_no_vehicle_may_read():
    text = acl_file_text(root="transit", service_username="databus", vehicle_ids=["bus-1"])
    vehicle_block = text.split("user bus-1\n", 1)[1]
    assert vehicle_block == "topic write transit/vehicle/bus-1/#\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"vehicle_ids": ["databus"]}, "service account's username"),
        ({"vehicle_ids": [".."]}, "vehicle id"),
        ({"vehicle_ids": ["a/b"]}, "vehicle id"),
        ({"vehicle_ids": ["+"]}, "vehicle id"),
        ({"vehicle_ids": ["bus 1"]}, "vehicle id"),
        ({"root": "transit/#"}, "plain topic prefix"),
        ({"root": "$SYS"}, "plain topic prefix"),
        ({"root": "tran sit"}, "blanks"),
        ({"root": "transit\nuser evil"}, "blanks"),
        ({"service_username": "data bus"}, "service username"),
    ],
)
def test_an_acl_that_would_grant_more_than_meant_is_refused(arguments, message):
    values = {"root": "transit", "service_username": "databus", "vehicle_ids": []} | arguments
    with pytest.raises(ValueError, match=message):
        acl_file_text(**values)
