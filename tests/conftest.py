"""Shared fixtures.  Every suite starts real processes with ``harness.cluster``; the kits
of one suite that others use (``gateway_kit``, ``feedkit``, ...) import by plain name
through pytest's ``pythonpath`` setting (pyproject.toml)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster import Cluster, cluster


@pytest.fixture
def actors(tmp_path: Path) -> Iterator[Cluster]:
    """Two engines (BTC-USDT, ETH-USDT) and two accounts shards, running."""
    with cluster(tmp_path) as running:
        running.start_actors()
        yield running
