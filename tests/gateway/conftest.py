"""Fixtures of the gateway tests: one running exchange shared by the tests that only add
users of their own.  The helpers live in ``gateway_kit``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from gateway_kit import Api, User, exchange

from harness.cluster import Cluster


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
