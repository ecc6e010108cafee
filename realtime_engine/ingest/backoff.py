"""Retry delays of the ingress consumers: doubling from the first to a cap, reset on success."""

from __future__ import annotations

BACKOFF_FIRST_S = 0.5


class Backoff:
    def __init__(self, cap_s: float, *, first_s: float = BACKOFF_FIRST_S) -> None:
        self._cap_s = cap_s
        self._first_s = first_s
        self._next = first_s

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self._cap_s)
        return delay

    def reset(self) -> None:
        self._next = self._first_s
