"""The check every projection contract's tests share: a value is written as a given hash,
field by field in order, and read back as itself."""

from types import ModuleType

import msgspec


def assert_round_trips(
    contract: ModuleType, key: str, value: msgspec.Struct, stored: list[tuple[str, str]]
) -> None:
    fields = contract.validate_for_write(value)
    assert list(fields.items()) == stored
    assert contract.from_redis(key, fields) == value
