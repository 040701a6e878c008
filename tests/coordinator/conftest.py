"""A real etcd for each test (``harness/etcd.py``), and coordinators closed after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from coordkit import MakeCoordinator

from bourse.coordination import CoordinatorSettings
from harness.etcd import Etcd, etcd
from transport.coordinator import Coordinator


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Etcd]:
    with etcd(tmp_path / "etcd") as running:
        yield running


@pytest.fixture
def settings(server: Etcd) -> CoordinatorSettings:
    return server.settings()


@pytest.fixture
def coordinator(settings: CoordinatorSettings) -> Iterator[MakeCoordinator]:
    """Makes coordinators (of ``settings`` unless given others); each is closed after."""
    made: list[Coordinator] = []

    def make(
        given: CoordinatorSettings | None = None,
        on_lost: Callable[[Mapping[str, int]], None] | None = None,
    ) -> Coordinator:
        one = Coordinator(given or settings, on_lost=on_lost)
        made.append(one)
        return one

    yield make
    for one in made:
        one.close()
