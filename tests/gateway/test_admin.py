"""The operator's endpoints: halting a market, resuming it, and the money totals."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from gateway_kit import ADMIN, Api, User, auth, error

Users = Callable[..., User]


def test_a_halted_market_refuses_orders_but_cancels_work(api: Api, users: Users) -> None:
    alice = users(USDT="100000")
    resting = api.place(alice, side="buy", price="15000", qty="0.1", client_order_id="pre-halt")
    order_id = resting.json()["order_id"]
    halted = api.post("/api/v1/admin/markets/BTC-USDT/halt", headers=ADMIN)
    try:
        assert halted.status_code == 200, halted.text
        assert halted.json() == {"market": "BTC-USDT", "status": "halted"}
        statuses = {m["market"]: m["status"] for m in api.get("/api/v1/markets").json()}
        assert statuses == {"BTC-USDT": "halted", "ETH-USDT": "trading"}
        before = api.balances(alice)
        error(api.place(alice, side="buy", price="15000", qty="0.1"), 422, "MARKET_HALTED")
        assert api.balances(alice) == before
        # Reducing a resting order is a partial cancel: allowed while halted.
        smaller = api.patch(
            f"/api/v1/orders/{order_id}", json={"qty": "0.05"}, headers=alice.headers
        )
        assert smaller.status_code == 200 and smaller.json()["qty"] == "0.0500"
        moved = api.patch(
            f"/api/v1/orders/{order_id}", json={"price": "15001"}, headers=alice.headers
        )
        error(moved, 422, "MARKET_HALTED")
        eth = api.place(alice, market="ETH-USDT", side="buy", price="100", qty="1")
        assert eth.status_code == 201, eth.text
        cancelled = api.delete(f"/api/v1/orders/{order_id}", headers=alice.headers)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert api.balances(alice)["USDT"] == ("99899.800000", "100.200000")
    finally:
        resumed = api.post("/api/v1/admin/markets/BTC-USDT/resume", headers=ADMIN)
    assert resumed.status_code == 200 and resumed.json()["status"] == "trading"
    again = api.place(alice, side="buy", price="15000", qty="0.1")
    assert again.status_code == 201 and again.json()["status"] == "new"


def test_admin_endpoints_need_the_admin_key(api: Api, users: Users) -> None:
    alice = users()
    for headers in ({}, alice.headers, auth("wrong-admin-key")):
        for method, path in [
            ("POST", "/api/v1/admin/markets/BTC-USDT/halt"),
            ("POST", "/api/v1/admin/markets/BTC-USDT/resume"),
            ("GET", "/api/v1/admin/totals"),
        ]:
            error(api.request(method, path, headers=headers), 401, "UNAUTHENTICATED")
    assert {m["status"] for m in api.get("/api/v1/markets").json()} == {"trading"}
    unknown = api.post("/api/v1/admin/markets/NOPE-USDT/halt", headers=ADMIN)
    error(unknown, 400, "UNKNOWN_MARKET", "market")


def test_totals_add_up_after_trading(api: Api, users: Users) -> None:
    seller = users(BTC="2", USDT="10")
    buyer = users(USDT="50000")
    assert api.place(seller, side="sell", price="25000", qty="1").status_code == 201
    assert api.place(buyer, side="buy", price="25000", qty="0.6").status_code == 201
    assert api.post(
        "/api/v1/withdrawals", json={"asset": "USDT", "amount": "1"}, headers=seller.headers
    ).is_success
    totals = api.totals()
    assert totals["conserved"] is True
    assert [s["shard"] for s in totals["shards"]] == [0, 1]
    by_asset = {row["asset"]: row for row in totals["assets"]}
    assert set(by_asset) == {"BTC", "ETH", "USDT"}
    for row in by_asset.values():
        free, locked, fees = (Decimal(row[k]) for k in ("free", "locked", "fees"))
        deposits, withdrawals = Decimal(row["deposits"]), Decimal(row["withdrawals"])
        assert row["conserved"] is True
        assert free + locked + fees == deposits - withdrawals
        assert row["traded_in"] == row["traded_out"]
    assert Decimal(by_asset["USDT"]["fees"]) > 0
    assert Decimal(by_asset["USDT"]["withdrawals"]) >= 1
