"""Orders over HTTP against real engines and shards: the happy paths and every refusal."""

from __future__ import annotations

from collections.abc import Callable

from gateway_kit import ADMIN, Api, User, error, shard_of, wait_until

Users = Callable[..., User]


def test_a_limit_order_rests_and_can_be_found_every_way(api: Api, users: Users) -> None:
    alice = users(USDT="10000")
    placed = api.place(
        alice, side="buy", price="30000", qty="0.1", client_order_id="rest-1", post_only=True
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "new"
    assert order["price"] == "30000.00" and order["qty"] == "0.1000"
    assert order["filled_qty"] == "0.0000" and order["fills"] == []
    assert order["time_in_force"] == "GTC" and order["post_only"] is True
    assert order["client_order_id"] == "rest-1" and order["type"] == "limit"
    assert isinstance(order["created_at"], int) and order["created_at"] == order["updated_at"]
    order_id = order["order_id"]

    by_id = api.get(f"/api/v1/orders/{order_id}", headers=alice.headers)
    assert by_id.status_code == 200 and by_id.json() == order
    by_client = api.get("/api/v1/orders/by-client-id/rest-1", headers=alice.headers)
    assert by_client.status_code == 200 and by_client.json() == order
    listed = api.get("/api/v1/orders", params={"market": "BTC-USDT"}, headers=alice.headers)
    assert listed.status_code == 200 and [o["order_id"] for o in listed.json()] == [order_id]
    # 3000 USDT, plus the worst-case fee (0.002) locked up front.
    assert api.balances(alice)["USDT"] == ("6994.000000", "3006.000000")
    depth = api.get("/api/v1/depth", params={"market": "BTC-USDT"}).json()
    assert ["30000.00", "0.1000"] in depth["bids"]


def test_users_on_two_shards_trade_and_both_see_fills_and_balances(api: Api, users: Users) -> None:
    seller = users(BTC="1")
    buyer = users(USDT="10000")
    while shard_of(buyer.user_id) == shard_of(seller.user_id):
        buyer = users(USDT="10000")
    resting = api.place(seller, side="sell", price="30000", qty="0.1")
    assert resting.status_code == 201, resting.text
    taken = api.place(buyer, side="buy", price="30000", qty="0.1")
    assert taken.status_code == 201, taken.text
    order = taken.json()
    assert order["status"] == "filled" and order["filled_qty"] == "0.1000"
    assert order["filled_quote"] == "3000.000000" and order["fee"] == "6.000000"
    [fill] = order["fills"]
    assert fill["liquidity"] == "taker" and fill["price"] == "30000.00" and fill["qty"] == "0.1000"

    # The maker's shard settles the same trade from its own report of the engine: soon,
    # not necessarily before the taker's shard answered.
    maker_path = f"/api/v1/orders/{resting.json()['order_id']}"
    wait_until(
        lambda: api.get(maker_path, headers=seller.headers).json()["status"] == "filled",
        5.0,
        "the maker's shard settles the fill",
    )
    buyer_fills = api.get("/api/v1/fills", headers=buyer.headers).json()
    seller_fills = api.get("/api/v1/fills", params={"market": "BTC-USDT"}, headers=seller.headers)
    assert [f["trade_id"] for f in buyer_fills] == [fill["trade_id"]]
    [maker_fill] = seller_fills.json()
    assert maker_fill["trade_id"] == fill["trade_id"] and maker_fill["liquidity"] == "maker"
    assert maker_fill["side"] == "sell" and maker_fill["fee"] == "3.000000"
    assert maker_fill["fee_asset"] == "USDT" and maker_fill["market"] == "BTC-USDT"

    assert api.balances(buyer)["BTC"] == ("0.10000000", "0.00000000")
    assert api.balances(buyer)["USDT"] == ("6994.000000", "0.000000")
    assert api.balances(seller)["BTC"] == ("0.90000000", "0.00000000")
    assert api.balances(seller)["USDT"] == ("2997.000000", "0.000000")


def test_a_user_cannot_see_amend_or_cancel_another_users_order(api: Api, users: Users) -> None:
    owner = users(USDT="10000")
    other = users(USDT="10000")
    placed = api.place(owner, side="buy", price="20000", qty="0.1", client_order_id="mine")
    order_id = placed.json()["order_id"]
    path = f"/api/v1/orders/{order_id}"
    error(api.get(path, headers=other.headers), 404, "ORDER_NOT_FOUND")
    error(
        api.get("/api/v1/orders/by-client-id/mine", headers=other.headers), 404, "ORDER_NOT_FOUND"
    )
    error(api.patch(path, json={"qty": "0.05"}, headers=other.headers), 404, "ORDER_NOT_FOUND")
    error(api.delete(path, headers=other.headers), 404, "ORDER_NOT_FOUND", "order_id")
    assert api.get("/api/v1/orders", headers=other.headers).json() == []
    assert api.delete("/api/v1/orders", headers=other.headers).json() == []
    still = api.get(path, headers=owner.headers).json()
    assert still["status"] == "new" and still["qty"] == "0.1000"
    error(api.get("/api/v1/orders/999999999", headers=owner.headers), 404, "ORDER_NOT_FOUND")


def test_a_repeated_client_order_id_is_refused_and_places_nothing(api: Api, users: Users) -> None:
    alice = users(USDT="10000")
    first = api.place(alice, side="buy", price="20000", qty="0.1", client_order_id="dup")
    assert first.status_code == 201, first.text
    before = api.balances(alice)
    again = api.place(alice, side="buy", price="21000", qty="0.2", client_order_id="dup")
    error(again, 409, "DUPLICATE_CLIENT_ORDER_ID", "client_order_id")
    assert api.balances(alice) == before
    orders = api.get("/api/v1/orders", params={"status": "all"}, headers=alice.headers).json()
    assert [o["order_id"] for o in orders] == [first.json()["order_id"]]


def test_order_inputs_are_checked_with_the_markets_rules(api: Api, users: Users) -> None:
    alice = users(USDT="100000", BTC="1")
    error(
        api.place(alice, market="DOGE-USDT", side="buy", price="1", qty="1"),
        400,
        "UNKNOWN_MARKET",
        "market",
    )
    error(api.place(alice, side="buy", price="30000.001", qty="0.1"), 400, "OFF_TICK", "price")
    error(api.place(alice, side="buy", price="30000.005", qty="0.1"), 400, "OFF_TICK", "price")
    error(api.place(alice, side="buy", price="30000", qty="0.00011"), 400, "OFF_LOT", "qty")
    error(api.place(alice, side="buy", price="30000", qty="0"), 400, "NOT_POSITIVE", "qty")
    error(api.place(alice, side="buy", price="-5", qty="0.1"), 400, "NOT_POSITIVE", "price")
    error(api.place(alice, side="buy", price="1" * 25, qty="1"), 400, "OUT_OF_RANGE", "price")
    error(api.place(alice, side="buy", price="1e5", qty="0.1"), 400, "INVALID_FIELD", "price")
    error(api.place(alice, side="buy", qty="0.1"), 400, "INVALID_FIELD", "price")
    error(api.place(alice, side="buy", price="30000"), 400, "INVALID_FIELD", "qty")
    error(api.place(alice, side="up", price="30000", qty="0.1"), 400, "INVALID_FIELD", "side")
    error(api.place(alice, side="buy", price=30000, qty="0.1"), 400, "INVALID_FIELD", "price")
    error(
        api.place(alice, side="buy", price="3", qty="0.1", tif="IOC"), 400, "INVALID_FIELD", "tif"
    )
    error(
        api.place(alice, side="buy", price="3", qty="0.1", client_order_id="a b"),
        400,
        "INVALID_FIELD",
        "client_order_id",
    )
    error(
        api.place(alice, type="market", side="sell", quote_qty="10"),
        400,
        "INVALID_FIELD",
        "quote_qty",
    )
    error(api.place(alice, type="market", side="buy", price="100"), 400, "INVALID_FIELD", "qty")
    assert api.get("/api/v1/orders", params={"status": "all"}, headers=alice.headers).json() == []


def test_orders_the_rules_refuse_are_422(api: Api, users: Users) -> None:
    poor = users(USDT="100")
    error(api.place(poor, side="buy", price="30000", qty="0.1"), 422, "INSUFFICIENT_FUNDS")
    error(api.place(poor, side="sell", price="30000", qty="0.1"), 422, "INSUFFICIENT_FUNDS")
    error(api.place(poor, side="buy", price="10", qty="0.01"), 422, "MIN_NOTIONAL")
    assert api.balances(poor)["USDT"] == ("100.000000", "0.000000")

    maker = users(BTC="1")
    taker = users(USDT="10000")
    assert api.place(maker, side="sell", price="31000", qty="0.1").status_code == 201
    refused = api.place(taker, side="buy", price="31000", qty="0.1", post_only=True)
    error(refused, 422, "POST_ONLY_WOULD_TAKE")
    assert api.balances(taker)["USDT"] == ("10000.000000", "0.000000")
    [rejected] = api.get("/api/v1/orders", params={"status": "all"}, headers=taker.headers).json()
    assert rejected["status"] == "rejected"


def test_ioc_and_fok_that_cannot_fill_are_201_expired(api: Api, users: Users) -> None:
    maker = users(BTC="1")
    taker = users(USDT="100000")
    ioc = api.place(taker, side="buy", price="25000", qty="0.1", time_in_force="IOC")
    assert ioc.status_code == 201, ioc.text
    assert ioc.json()["status"] == "expired" and ioc.json()["filled_qty"] == "0.0000"

    assert api.place(maker, side="sell", price="32000", qty="0.05").status_code == 201
    fok = api.place(taker, side="buy", price="32000", qty="0.1", time_in_force="FOK")
    assert fok.status_code == 201, fok.text
    assert fok.json()["status"] == "expired" and fok.json()["fills"] == []
    partial = api.place(taker, side="buy", price="32000", qty="0.1", time_in_force="IOC")
    assert partial.status_code == 201, partial.text
    body = partial.json()
    assert body["status"] == "expired" and body["filled_qty"] == "0.0500"
    assert len(body["fills"]) == 1
    assert api.balances(taker)["USDT"][1] == "0.000000"


def test_self_trade_prevention_expires_the_taker_with_201(api: Api, users: Users) -> None:
    alice = users(BTC="1", USDT="100000")
    resting = api.place(alice, side="sell", price="34000", qty="0.1")
    assert resting.status_code == 201, resting.text
    crossing = api.place(alice, side="buy", price="34000", qty="0.1")
    assert crossing.status_code == 201, crossing.text
    assert crossing.json()["status"] == "expired" and crossing.json()["fills"] == []
    still = api.get(f"/api/v1/orders/{resting.json()['order_id']}", headers=alice.headers)
    assert still.json()["status"] == "new"


def test_market_orders_by_quote_and_by_base(api: Api, users: Users) -> None:
    maker = users(BTC="1", USDT="100000")
    taker = users(BTC="1", USDT="100000")
    assert api.place(maker, side="sell", price="33000", qty="0.2").status_code == 201
    bought = api.place(taker, type="market", side="buy", quote_qty="3300")
    assert bought.status_code == 201, bought.text
    assert bought.json()["filled_qty"] == "0.1000" and bought.json()["quote_qty"] == "3300.000000"
    bounded = api.place(taker, type="market", side="buy", qty="0.1", price="33000")
    assert bounded.status_code == 201 and bounded.json()["status"] == "filled"

    assert api.place(maker, side="buy", price="20000", qty="0.1").status_code == 201
    sold = api.place(taker, type="market", side="sell", qty="0.1")
    assert sold.status_code == 201 and sold.json()["status"] == "filled"
    assert sold.json()["fills"][0]["price"] == "20000.00"


def test_amend_keeps_or_moves_the_order(api: Api, users: Users) -> None:
    alice = users(USDT="100000")
    order_id = api.place(alice, side="buy", price="20000", qty="0.3").json()["order_id"]
    path = f"/api/v1/orders/{order_id}"
    smaller = api.patch(path, json={"qty": "0.2"}, headers=alice.headers)
    assert smaller.status_code == 200, smaller.text
    assert smaller.json()["qty"] == "0.2000" and smaller.json()["price"] == "20000.00"
    moved = api.patch(path, json={"price": "20500.5"}, headers=alice.headers)
    assert moved.status_code == 200 and moved.json()["price"] == "20500.50"
    depth = api.get("/api/v1/depth", params={"market": "BTC-USDT"}).json()
    assert ["20500.50", "0.2000"] in depth["bids"]
    assert all(level[0] != "20000.00" for level in depth["bids"])
    # 0.2 x 20500.50 = 4100.10, plus the worst-case fee 0.002 x 4100.10 = 8.2002.
    assert api.balances(alice)["USDT"][1] == "4108.300200"

    error(api.patch(path, json={}, headers=alice.headers), 400, "INVALID_FIELD", "qty")
    error(api.patch(path, json={"price": "1.001"}, headers=alice.headers), 400, "OFF_TICK", "price")
    error(api.patch(path, json={"qty": "0.00001"}, headers=alice.headers), 400, "OFF_LOT", "qty")
    error(api.patch(path, json={"qty": "100"}, headers=alice.headers), 422, "INSUFFICIENT_FUNDS")
    error(api.patch(path, json={"price": "0.01"}, headers=alice.headers), 422, "MIN_NOTIONAL")
    error(api.patch(path, json={"qty": 1}, headers=alice.headers), 400, "INVALID_FIELD", "qty")


def test_cancel_one_and_cancel_all(api: Api, users: Users) -> None:
    alice = users(USDT="100000", ETH="10")
    first = api.place(alice, side="buy", price="20000", qty="0.1").json()["order_id"]
    second = api.place(alice, side="buy", price="20001", qty="0.1").json()["order_id"]
    eth = api.place(alice, market="ETH-USDT", side="sell", price="5000", qty="1").json()
    cancelled = api.delete(f"/api/v1/orders/{first}", headers=alice.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    error(api.delete(f"/api/v1/orders/{first}", headers=alice.headers), 422, "ORDER_CLOSED")
    error(
        api.patch(f"/api/v1/orders/{first}", json={"qty": "0.05"}, headers=alice.headers),
        422,
        "ORDER_CLOSED",
    )
    error(
        api.delete("/api/v1/orders", params={"market": "NOPE"}, headers=alice.headers),
        400,
        "UNKNOWN_MARKET",
        "market",
    )
    # A misspelt filter must not widen a cancel to every market.
    error(
        api.delete("/api/v1/orders", params={"markt": "BTC-USDT"}, headers=alice.headers),
        400,
        "INVALID_FIELD",
        "markt",
    )

    btc = api.delete("/api/v1/orders", params={"market": "BTC-USDT"}, headers=alice.headers)
    assert btc.status_code == 200
    assert [(o["order_id"], o["status"]) for o in btc.json()] == [(second, "cancelled")]
    open_orders = api.get("/api/v1/orders", headers=alice.headers).json()
    assert [o["order_id"] for o in open_orders] == [eth["order_id"]]
    rest = api.delete("/api/v1/orders", headers=alice.headers).json()
    assert [o["market"] for o in rest] == ["ETH-USDT"]
    assert api.balances(alice)["USDT"] == ("100000.000000", "0.000000")
    assert api.balances(alice)["ETH"] == ("10.00000000", "0.00000000")


def test_listing_orders_and_fills(api: Api, users: Users) -> None:
    alice = users(USDT="100000", BTC="1")
    bob = users(USDT="100000", BTC="1")
    ids = [
        api.place(alice, side="buy", price=f"{20000 + i}", qty="0.1").json()["order_id"]
        for i in range(3)
    ]
    api.delete(f"/api/v1/orders/{ids[0]}", headers=alice.headers)
    open_orders = api.get("/api/v1/orders", headers=alice.headers).json()
    assert [o["order_id"] for o in open_orders] == [ids[2], ids[1]]
    every = api.get("/api/v1/orders", params={"status": "all"}, headers=alice.headers).json()
    assert [o["order_id"] for o in every] == ids[::-1]
    limited = api.get("/api/v1/orders", params={"status": "all", "limit": 1}, headers=alice.headers)
    assert [o["order_id"] for o in limited.json()] == [ids[2]]
    eth = api.get("/api/v1/orders", params={"market": "ETH-USDT"}, headers=alice.headers)
    assert eth.json() == []
    for params in ({"status": "closed"}, {"limit": 0}, {"limit": 1001}, {"limit": "x"}):
        key = next(iter(params))
        error(
            api.get("/api/v1/orders", params=params, headers=alice.headers),
            400,
            "INVALID_FIELD",
            key,
        )
    error(
        api.get("/api/v1/orders", params={"market": "X-Y"}, headers=alice.headers),
        400,
        "UNKNOWN_MARKET",
        "market",
    )

    api.place(bob, side="sell", price="20002", qty="0.1")
    api.place(bob, side="sell", price="20001", qty="0.1")
    fills = api.get("/api/v1/fills", headers=alice.headers).json()
    assert [f["price"] for f in fills] == ["20001.00", "20002.00"]
    one = api.get("/api/v1/fills", params={"limit": 1}, headers=alice.headers).json()
    assert one == fills[:1]
    assert (
        api.get("/api/v1/fills", params={"market": "ETH-USDT"}, headers=alice.headers).json() == []
    )
    error(
        api.get("/api/v1/fills", params={"market": "ZZ"}, headers=alice.headers),
        400,
        "UNKNOWN_MARKET",
        "market",
    )


def test_path_ids_are_validated(api: Api, users: Users) -> None:
    alice = users()
    error(api.get("/api/v1/orders/abc", headers=alice.headers), 400, "INVALID_FIELD", "order_id")
    error(api.delete("/api/v1/orders/-1", headers=alice.headers), 400, "INVALID_FIELD", "order_id")
    error(
        api.get("/api/v1/orders/by-client-id/a%20b", headers=alice.headers),
        400,
        "INVALID_FIELD",
        "client_order_id",
    )
    error(
        api.get("/api/v1/orders/by-client-id/unknown", headers=alice.headers),
        404,
        "ORDER_NOT_FOUND",
    )


def test_the_admin_key_is_not_a_user_key(api: Api) -> None:
    error(api.get("/api/v1/orders", headers=ADMIN), 401, "UNAUTHENTICATED")
