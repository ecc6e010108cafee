"""How full a simulated vehicle is after each stop of a trip. Pure, deterministic from a seed.

Passengers board more near the start of a trip and alight more towards its end, so
the load rises and falls along the route; everyone leaves at the terminal. Read by
``runner``, which publishes the load at the stop the vehicle is at or last left.
"""

from __future__ import annotations

import random

# Seats and standing room of a standard 12 m bus.
CAPACITY = 70
# Boarding at a stop at most this share of the capacity (at the first stop; less later).
MAX_BOARDING_SHARE = 0.3
# Of those on board, at most this share alights at a stop (at the end of the trip).
MAX_ALIGHTING_SHARE = 0.7


def load_profile(stop_count: int, *, seed: str, capacity: int = CAPACITY) -> tuple[int, ...]:
    """Passengers on board after each stop (the terminal: nobody), between 0 and capacity."""
    rng = random.Random(f"{seed}|load")
    loads, on_board = [], 0
    for index in range(stop_count):
        progress = index / max(stop_count - 1, 1)
        if index == stop_count - 1:
            loads.append(0)
            break
        alighting = round(on_board * rng.uniform(0.0, MAX_ALIGHTING_SHARE * progress))
        boarding = rng.randint(0, round(capacity * MAX_BOARDING_SHARE * (1.0 - progress)) + 1)
        on_board = min(max(on_board - alighting + boarding, 0), capacity)
        loads.append(on_board)
    return tuple(loads)


def occupancy_percentage(count: int, capacity: int = CAPACITY) -> int:
    return round(100 * count / capacity)
