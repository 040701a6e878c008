"""Shared fixtures.  pytest puts this folder on sys.path, so every suite can
``from harness import cluster`` to start real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Cluster, cluster


@pytest.fixture
def actors(tmp_path: Path) -> Iterator[Cluster]:
    """Two engines (BTC-USDT, ETH-USDT) and two accounts shards, running."""
    with cluster(tmp_path) as running:
        running.start_actors()
        yield running
