"""The consumer's flush decision (``flush_due``): when a batch in hand is written."""

from __future__ import annotations

from realtime_engine.ingest.consumer import ConsumerConfig, flush_due


def _config(**overrides: object) -> ConsumerConfig:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 1883,
        "client_id": "t",
        "topic_root": "t",
    }
    return ConsumerConfig(**(values | {"batch_max": 500, "flush_ms": 10} | overrides))


def test_nothing_held_is_never_flushed() -> None:
    assert not flush_due(0, waited_s=1.0, drained=True, config=_config())


def test_default_flushes_when_drained_as_before() -> None:
    assert flush_due(1, waited_s=0.0, drained=True, config=_config())
    assert not flush_due(1, waited_s=0.0, drained=False, config=_config())


def test_small_drained_batch_waits_for_flush_min() -> None:
    config = _config(flush_min=50)
    assert not flush_due(49, waited_s=0.001, drained=True, config=config)
    assert flush_due(50, waited_s=0.001, drained=True, config=config)


def test_flush_ms_bounds_the_wait() -> None:
    config = _config(flush_min=50)
    assert flush_due(3, waited_s=0.010, drained=False, config=config)


def test_batch_max_flushes_at_once() -> None:
    assert flush_due(500, waited_s=0.0, drained=False, config=_config(flush_min=1000))
