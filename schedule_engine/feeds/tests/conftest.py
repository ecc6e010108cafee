"""Fixtures shared by the publishing tests."""

from __future__ import annotations

import pytest

from schedule_engine import blocks
from schedule_engine.feeds.tests.operations_network import BLOCK_FEED
from schedule_engine.testing import import_feed, write_feed


@pytest.fixture
def network(db, tmp_path):
    """The block network (``operations_network.BLOCK_FEED``) imported as the current GTFS
    version, the blocks' cache empty before and after."""
    blocks.clear()
    yield import_feed(write_feed(tmp_path / "gtfs", BLOCK_FEED))
    blocks.clear()
