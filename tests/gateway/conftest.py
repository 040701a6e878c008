"""Fixtures of the gateway tests: one running exchange shared by the tests that only add
users of their own.  The helpers live in ``gateway_kit`` (this folder is put on
``sys.path`` so it imports by name under every import mode)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from gateway_kit import Api, User, exchange  # noqa: E402
from harness import Cluster  # noqa: E402


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    """One exchange shared by the tests that only add users of their own."""
    with exchange(tmp_path_factory.mktemp("exchange"), feed=True) as pair:
        yield pair


@pytest.fixture(scope="session")
def api(running: tuple[Cluster, Api]) -> Api:
    return running[1]


@pytest.fixture(scope="session")
def cluster(running: tuple[Cluster, Api]) -> Cluster:
    return running[0]


@pytest.fixture
def users(api: Api) -> Iterator[Callable[..., User]]:
    """Makes funded users; cancels their orders afterwards so no order outlives its test."""
    made: list[User] = []

    def make(**funds: str) -> User:
        user = api.new_user(**funds)
        made.append(user)
        return user

    yield make
    for user in made:
        answer = api.delete("/api/v1/orders", headers=user.headers)
        assert answer.status_code == 200, answer.text
