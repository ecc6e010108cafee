"""``forked_map``: shards computed in forked children come back in order, and a child that
fails or dies is reported, never left behind."""

from __future__ import annotations

import os
import signal

import pytest

from schedule_engine.feeds.forking import ShardFailed, forked_map


def test_each_shard_is_computed_in_its_own_process_and_returned_in_order():
    parent = os.getpid()
    data = list(range(1000))  # held before the fork: every child sees it without a copy

    results = forked_map(lambda index: (index, os.getpid(), sum(data[index::3])), 3)

    assert [index for index, _, _ in results] == [0, 1, 2]
    assert [total for _, _, total in results] == [sum(data[i::3]) for i in range(3)]
    pids = [pid for _, pid, _ in results]
    assert pids[0] == parent and len(set(pids)) == 3
    for pid in pids[1:]:  # reaped: gone, not zombies
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_a_result_crosses_the_pipe_packed_and_is_unpacked():
    results = forked_map(
        lambda index: {"shard": index},
        2,
        packed=lambda result: ("packed", result["shard"]),
        unpacked=lambda sent: {"shard": sent[1], "was": sent[0]},
    )

    assert results == [{"shard": 0}, {"shard": 1, "was": "packed"}]


def test_a_child_that_raises_fails_the_map_with_its_traceback():
    def task(index: int) -> int:
        if index == 1:
            raise ValueError("shard one cannot")
        return index

    with pytest.raises(ShardFailed, match=r"(?s)shard 1:.*ValueError: shard one cannot"):
        forked_map(task, 2)


def test_a_child_that_dies_fails_the_map_with_the_signal():
    def task(index: int) -> int:
        if index == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return index

    with pytest.raises(ShardFailed, match="killed by SIGKILL"):
        forked_map(task, 2)


def test_when_this_process_s_shard_raises_the_children_are_still_reaped(tmp_path):
    def task(index: int) -> int:
        (tmp_path / f"pid-{index}").write_text(str(os.getpid()))
        if index == 0:
            raise RuntimeError("here")
        return index

    with pytest.raises(RuntimeError, match="here"):
        forked_map(task, 3)

    for index in (1, 2):
        pid = int((tmp_path / f"pid-{index}").read_text())
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
