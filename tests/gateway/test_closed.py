"""An exchange with sign-up and the faucet off, served by two gateway workers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from gateway_kit import ADMIN, Api, User, error, exchange

from harness.cluster import Cluster


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    replace = {
        "open_signup = true": "open_signup = false",
        "faucet = true": "faucet = false",
        "workers = 1": "workers = 2",
    }
    with exchange(tmp_path_factory.mktemp("closed"), replace=replace) as pair:
        yield pair


def test_only_the_operator_signs_up_and_credits(closed: tuple[Cluster, Api]) -> None:
    _, api = closed
    info = api.get("/api/v1/info").json()
    assert info["signup"] is False and info["faucet"] is False
    error(api.post("/api/v1/users"), 401, "UNAUTHENTICATED")
    error(
        api.post("/api/v1/users", headers={"Authorization": "Bearer guess"}), 401, "UNAUTHENTICATED"
    )
    created = api.post("/api/v1/users", headers=ADMIN)
    assert created.status_code == 201, created.text
    alice = User(created.json()["user_id"], created.json()["api_key"])

    own = {"asset": "USDT", "amount": "100"}
    error(api.post("/api/v1/deposits", json=own, headers=alice.headers), 403, "FORBIDDEN")
    credit = {**own, "user_id": alice.user_id}
    credited = api.post("/api/v1/deposits", json=credit, headers=ADMIN)
    assert credited.status_code == 200, credited.text
    assert api.balances(alice)["USDT"] == ("100.000000", "0.000000")
    placed = api.place(alice, side="buy", price="100", qty="0.5")
    assert placed.status_code == 201, placed.text


def test_every_worker_serves(closed: tuple[Cluster, Api]) -> None:
    _, api = closed
    for _ in range(20):
        with httpx.Client(base_url=api.base_url) as fresh:
            assert fresh.get("/api/v1/markets").status_code == 200
            assert fresh.get("/api/v1/depth", params={"market": "BTC-USDT"}).status_code == 200
