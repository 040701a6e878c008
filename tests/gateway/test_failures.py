"""Actors that die: only what needs them fails (503/504), and they serve again on restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_kit import Api, error, exchange, shard_of, wait_until

from harness.cluster import Cluster


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    replace = {"request_timeout_ms = 3000": "request_timeout_ms = 1000"}
    with exchange(tmp_path_factory.mktemp("fragile"), replace=replace) as pair:
        yield pair


def test_a_dead_engine_fails_only_its_market(fragile: tuple[Cluster, Api]) -> None:
    cluster, api = fragile
    alice = api.new_user(USDT="100000", BTC="1", ETH="10")
    assert api.place(alice, side="buy", price="100", qty="0.5").status_code == 201

    cluster.kill("engine-BTC-USDT")
    depth = {"market": "BTC-USDT"}
    wait_until(
        lambda: api.get("/api/v1/depth", params=depth).status_code == 503,
        what="the gateway sees the engine gone",
    )
    error(api.get("/api/v1/depth", params=depth), 503, "UNAVAILABLE")
    # The shard knows its engine is gone: it refuses at once, and never places the order.
    lost = api.place(alice, side="buy", price="101", qty="0.5", client_order_id="in-the-dark")
    error(lost, 503, "UNAVAILABLE")

    eth = api.place(alice, market="ETH-USDT", side="buy", price="100", qty="1")
    assert eth.status_code == 201, eth.text
    assert api.get("/api/v1/depth", params={"market": "ETH-USDT"}).status_code == 200
    statuses = {m["market"]: m["status"] for m in api.get("/api/v1/markets").json()}
    assert statuses == {"BTC-USDT": "unavailable", "ETH-USDT": "trading"}
    health = api.get("/api/v1/health")
    assert health.status_code == 503
    engines = {e["market"]: e for e in health.json()["engines"]}
    assert engines["BTC-USDT"]["up"] is False and engines["BTC-USDT"]["error"] == "UNAVAILABLE"
    assert engines["ETH-USDT"]["up"] is True
    assert all(s["up"] for s in health.json()["shards"])

    cluster.start_engine("BTC-USDT")
    wait_until(
        lambda: api.get("/api/v1/depth", params=depth).status_code == 200,
        what="the engine serves again",
    )
    again = api.place(alice, side="buy", price="102", qty="0.5")
    assert again.status_code == 201, again.text
    # The refused order's fate is known by its client id: it never existed.
    found = api.get("/api/v1/orders/by-client-id/in-the-dark", headers=alice.headers)
    assert found.status_code == 404, found.text
    bids = api.get("/api/v1/depth", params=depth).json()["bids"]
    assert ["102.00", "0.5000"] in bids and ["100.00", "0.5000"] in bids


def test_a_dead_shard_fails_only_its_users(fragile: tuple[Cluster, Api]) -> None:
    cluster, api = fragile
    users = [api.new_user(USDT="10") for _ in range(2)]
    by_shard = {shard_of(u.user_id): u for u in users}
    assert set(by_shard) == {0, 1}

    cluster.kill("accounts-1")
    gone = by_shard[1]
    wait_until(
        lambda: api.get("/api/v1/balances", headers=gone.headers).status_code == 503,
        what="the gateway sees the shard gone",
    )
    error(api.get("/api/v1/balances", headers=gone.headers), 503, "UNAVAILABLE")
    assert api.get("/api/v1/balances", headers=by_shard[0].headers).status_code == 200
    for _ in range(3):
        created = api.post("/api/v1/users")
        assert created.status_code == 201 and shard_of(created.json()["user_id"]) == 0
    error(
        api.get("/api/v1/admin/totals", headers={"Authorization": "Bearer test-admin-key"}),
        503,
        "UNAVAILABLE",
    )

    cluster.start_shard(1)
    wait_until(
        lambda: api.get("/api/v1/balances", headers=gone.headers).status_code == 200,
        what="the shard serves again",
    )
    assert api.balances(gone)["USDT"] == ("10.000000", "0.000000")
