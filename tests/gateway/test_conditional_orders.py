"""Conditional orders, OCO lists, batches, the dead man's switch and market statuses over
HTTP and the feed's WebSocket, against real engines, shards, gateway and feed.

The exchange is this module's own: the tests move the last price and the markets'
statuses, which other modules' tests must not see.  Users alternate between the two
shards, so triggers and fills cross shards.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from feedkit import FeedClient, is_push
from gateway_kit import ADMIN, Api, User, error, exchange, shard_of, wait_until

from harness.cluster import Cluster

BTC = "BTC-USDT"
ETH = "ETH-USDT"


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    with exchange(tmp_path_factory.mktemp("conditional"), feed=True) as pair:
        yield pair


@pytest.fixture
def api(desk: tuple[Cluster, Api]) -> Api:
    return desk[1]


@pytest.fixture
async def rest(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """The same API for async tests, so the feed's reader runs while requests wait."""
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30.0) as client:
        yield client


def funded(api: Api, shard: int | None = None) -> User:
    """A user with plenty of everything, on ``shard`` when one is asked for."""
    while True:
        user = api.new_user(BTC="10", ETH="100", USDT="1000000")
        if shard is None or shard_of(user.user_id) == shard:
            return user


def last_price_at(api: Api, price: str, market: str = BTC) -> None:
    """Make the market's last trade price ``price``: two fresh users trade 0.01 at it."""
    maker, taker = funded(api), funded(api)
    qty = "0.01" if market == BTC else "0.1"
    made = api.place(maker, market=market, side="sell", price=price, qty=qty)
    assert made.status_code == 201, made.text
    taken = api.place(taker, market=market, side="buy", price=price, qty=qty)
    assert taken.status_code == 201 and taken.json()["status"] == "filled", taken.text


def order(api: Api, user: User, order_id: str) -> dict[str, Any]:
    answer = api.get(f"/api/v1/orders/{order_id}", headers=user.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def private_stream(cluster: Cluster, user: User) -> FeedClient:
    client = await FeedClient.open(cluster.config.feed_ws.port)
    await client.send({"op": "auth", "api_key": user.key})
    await client.next_matching(lambda m: m.get("op") == "authenticated", what="auth")
    for channel in ("orders", "fills", "balances"):
        await client.send({"op": "subscribe", "channel": channel})
    await client.wait(
        lambda: sum(m.get("op") == "subscribed" for m in client.messages) == 3, what="acks"
    )
    return client


async def test_a_stop_loss_triggered_by_another_users_trade(
    desk: tuple[Cluster, Api], rest: httpx.AsyncClient
) -> None:
    cluster, api = desk
    last_price_at(api, "30000")
    alice = funded(api, shard=0)
    bob = funded(api, shard=1)
    stream = await private_stream(cluster, alice)
    try:
        placed = await rest.post(
            "/api/v1/orders",
            json={
                "market": BTC,
                "side": "sell",
                "type": "stop_market",
                "qty": "0.1",
                "stop_price": "29000",
            },
            headers=alice.headers,
        )
        assert placed.status_code == 201, placed.text
        stop = placed.json()
        assert stop["status"] == "new" and stop["triggered"] is False
        assert stop["stop_price"] == "29000.00" and stop["type"] == "stop_market"
        assert stop["expire_time"] is None and stop["list_id"] is None
        assert api.balances(alice)["BTC"] == ("9.90000000", "0.10000000")
        listed = api.get("/api/v1/orders", headers=alice.headers).json()
        assert [o["order_id"] for o in listed] == [stop["order_id"]]
        depth = api.get("/api/v1/depth", params={"market": BTC}).json()
        assert all(level[0] != "29000.00" for level in depth["asks"] + depth["bids"])

        # Bob's bids below; then a trade at 29,000 between two others triggers the stop,
        # which sells into bob's bid at 28,900.
        bid = api.place(bob, side="buy", price="28900", qty="0.5")
        assert bid.status_code == 201, bid.text
        last_price_at(api, "29000")

        pushed = await stream.next_matching(
            lambda m: is_push(m, "orders") and m["order_id"] == stop["order_id"] and m["triggered"],
            what="the triggered stop pushed",
        )
        assert pushed["type"] == "stop_market"
        filled = await stream.next_matching(
            lambda m: is_push(m, "orders") and m["status"] == "filled",
            what="the stop filled",
        )
        assert filled["triggered"] is True and filled["filled_qty"] == "0.1000"
        fill = await stream.next_matching(lambda m: is_push(m, "fills"), what="its fill")
        assert fill["price"] == "28900.00" and fill["liquidity"] == "taker"
        # 2,890 USDT less the taker fee of 0.2 % (5.78)
        await stream.wait(
            lambda: any(
                m["asset"] == "USDT" and m["free"] == "1002884.220000"
                for m in stream.of("balances")
            ),
            what="the USDT balance after the sale",
        )
        assert api.balances(alice)["BTC"] == ("9.90000000", "0.00000000")
        assert order(api, alice, stop["order_id"]) == {
            k: v for k, v in filled.items() if k != "channel"
        }
        assert order(api, bob, bid.json()["order_id"])["filled_qty"] == "0.1000"
    finally:
        await stream.close()
        api.delete("/api/v1/orders", headers=bob.headers)


def test_conditional_refusals_name_their_field_or_rule(api: Api) -> None:
    last_price_at(api, "30000")
    alice = funded(api)
    stop = {"market": BTC, "side": "buy", "type": "stop_limit", "price": "31000", "qty": "0.1"}
    error(api.place(alice, **stop), 400, "INVALID_FIELD", "stop_price")
    error(api.place(alice, **stop, stop_price="30000.001"), 400, "OFF_TICK", "stop_price")
    error(api.place(alice, **stop, stop_price="29000"), 422, "WOULD_TRIGGER_IMMEDIATELY")
    limit = {"side": "buy", "price": "20000", "qty": "0.1"}
    error(api.place(alice, **limit, stop_price="1"), 400, "INVALID_FIELD", "stop_price")
    error(api.place(alice, **limit, time_in_force="GTD"), 400, "INVALID_FIELD", "expire_time")
    past = int(time.time() * 1000) - 1
    gtd = {**limit, "time_in_force": "GTD"}
    error(api.place(alice, **gtd, expire_time=past), 400, "INVALID_FIELD", "expire_time")
    far = int(time.time() * 1000) + 91 * 86_400_000
    error(api.place(alice, **gtd, expire_time=far), 400, "INVALID_FIELD", "expire_time")
    assert api.balances(alice)["USDT"] == ("1000000.000000", "0.000000")

    placed = api.place(alice, **stop, stop_price="30500")
    assert placed.status_code == 201, placed.text
    amend = api.patch(
        f"/api/v1/orders/{placed.json()['order_id']}", json={"qty": "0.05"}, headers=alice.headers
    )
    error(amend, 422, "ORDER_NOT_AMENDABLE")
    cancelled = api.delete(f"/api/v1/orders/{placed.json()['order_id']}", headers=alice.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["triggered"] is False
    assert api.balances(alice)["USDT"] == ("1000000.000000", "0.000000")


def test_a_gtd_order_expires_at_its_time(api: Api) -> None:
    alice = funded(api)
    expire = int(time.time() * 1000) + 1_500
    placed = api.place(
        alice, side="buy", price="20000", qty="0.1", time_in_force="GTD", expire_time=expire
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["expire_time"] == expire and placed.json()["time_in_force"] == "GTD"
    order_id = placed.json()["order_id"]
    wait_until(lambda: order(api, alice, order_id)["status"] == "expired", what="it expires")
    assert order(api, alice, order_id)["updated_at"] >= expire
    assert api.balances(alice)["USDT"] == ("1000000.000000", "0.000000")


def test_a_batch_with_one_bad_order_places_the_other_nineteen(api: Api) -> None:
    alice = funded(api)
    orders: list[dict[str, Any]] = [
        {"market": BTC, "side": "buy", "type": "limit", "price": str(10_000 + i), "qty": "0.01"}
        for i in range(20)
    ]
    orders[11] = {**orders[11], "qty": "1000"}  # 10 million USDT: more than alice has
    answer = api.post("/api/v1/orders/batch", json={"orders": orders}, headers=alice.headers)
    assert answer.status_code == 200, answer.text
    results = answer.json()
    assert len(results) == 20
    assert results[11] == {
        "status": 422,
        "error": {
            "code": "INSUFFICIENT_FUNDS",
            "message": results[11]["error"]["message"],
        },
    }
    placed = [r for i, r in enumerate(results) if i != 11]
    assert all(r["status"] == 201 and r["order"]["status"] == "new" for r in placed)
    assert [r["order"]["price"] for r in placed] == [
        f"{10_000 + i}.00" for i in range(20) if i != 11
    ]
    listed = api.get("/api/v1/orders", headers=alice.headers).json()
    assert {o["order_id"] for o in listed} == {r["order"]["order_id"] for r in placed}

    # An item off the grid is refused alone at the gateway; a malformed one refuses all.
    off_tick = [orders[0], {**orders[1], "price": "10001.001"}]
    mixed = api.post("/api/v1/orders/batch", json={"orders": off_tick}, headers=alice.headers)
    assert [r["status"] for r in mixed.json()] == [201, 400]
    assert mixed.json()[1]["error"]["code"] == "OFF_TICK"
    assert mixed.json()[1]["error"]["field"] == "price"
    malformed = [orders[0], {**orders[1], "side": "up"}]
    error(
        api.post("/api/v1/orders/batch", json={"orders": malformed}, headers=alice.headers),
        400,
        "INVALID_FIELD",
        "side",
    )
    too_many = {"orders": [orders[0]] * 21}
    error(
        api.post("/api/v1/orders/batch", json=too_many, headers=alice.headers),
        400,
        "INVALID_FIELD",
        "orders",
    )

    ids = [r["order"]["order_id"] for r in placed] + ["12345", "abc"]
    cancelled = api.post(
        "/api/v1/orders/batch-cancel", json={"order_ids": ids}, headers=alice.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    statuses = [r["status"] for r in cancelled.json()]
    assert statuses == [200] * 19 + [404, 400]
    assert all(r["order"]["status"] == "cancelled" for r in cancelled.json()[:19])
    assert cancelled.json()[19]["error"]["code"] == "ORDER_NOT_FOUND"
    api.delete("/api/v1/orders", headers=alice.headers)
    assert api.balances(alice)["USDT"] == ("1000000.000000", "0.000000")


def test_the_switch_fires_in_two_markets_on_two_engines(api: Api) -> None:
    last_price_at(api, "30000")
    alice = funded(api)
    mine = [
        api.place(alice, side="buy", price="20000", qty="0.1"),
        api.place(alice, market=ETH, side="sell", price="5000", qty="1"),
        api.place(alice, side="sell", type="stop_market", qty="0.1", stop_price="25000"),
    ]
    assert all(answer.status_code == 201 for answer in mine), [a.text for a in mine]
    ids = [answer.json()["order_id"] for answer in mine]

    armed = api.post(
        "/api/v1/orders/cancel-after", json={"timeout_ms": 1000}, headers=alice.headers
    )
    assert armed.status_code == 200, armed.text
    assert armed.json()["trigger_time"] == armed.json()["now"] + 1000
    again = api.post(
        "/api/v1/orders/cancel-after", json={"timeout_ms": 1500}, headers=alice.headers
    )
    trigger_time = again.json()["trigger_time"]
    assert trigger_time == again.json()["now"] + 1500

    wait_until(
        lambda: all(order(api, alice, i)["status"] == "cancelled" for i in ids),
        what="the switch cancels every open order",
    )
    cancelled_at = [order(api, alice, i)["updated_at"] for i in ids]
    # Fired once, by the re-armed time: not at the first one, and soon after it.
    assert all(trigger_time <= at < trigger_time + 2_000 for at in cancelled_at), (
        trigger_time,
        cancelled_at,
    )
    assert api.balances(alice)["BTC"] == ("10.00000000", "0.00000000")
    assert api.balances(alice)["USDT"] == ("1000000.000000", "0.000000")


def test_a_disarmed_switch_does_not_fire_and_bad_timeouts_are_refused(api: Api) -> None:
    alice, bob = funded(api), funded(api)
    kept = api.place(alice, side="buy", price="20000", qty="0.1")
    gone = api.place(bob, side="buy", price="20000", qty="0.1")
    for timeout in (-1, 1, 999, 3_600_001):
        error(
            api.post(
                "/api/v1/orders/cancel-after", json={"timeout_ms": timeout}, headers=alice.headers
            ),
            400,
            "INVALID_FIELD",
            "timeout_ms",
        )
    api.post("/api/v1/orders/cancel-after", json={"timeout_ms": 1000}, headers=alice.headers)
    off = api.post("/api/v1/orders/cancel-after", json={"timeout_ms": 0}, headers=alice.headers)
    assert off.status_code == 200 and off.json()["trigger_time"] is None
    api.post("/api/v1/orders/cancel-after", json={"timeout_ms": 1200}, headers=bob.headers)
    wait_until(
        lambda: order(api, bob, gone.json()["order_id"])["status"] == "cancelled",
        what="bob's switch fires",
    )
    # Bob's fired after alice's old trigger time: alice's disarmed switch did nothing.
    assert order(api, alice, kept.json()["order_id"])["status"] == "new"
    api.delete("/api/v1/orders", headers=alice.headers)


def test_an_oco_list_over_http(api: Api) -> None:
    last_price_at(api, "30000")
    alice = funded(api)
    body = {
        "market": BTC,
        "side": "sell",
        "qty": "0.1",
        "price": "32000",
        "stop_price": "29000",
        "stop_limit_price": "28900",
        "client_list_id": "protect-1",
    }
    placed = api.post("/api/v1/order-lists", json=body, headers=alice.headers)
    assert placed.status_code == 201, placed.text
    oco = placed.json()
    assert oco["status"] == "open" and oco["client_list_id"] == "protect-1"
    limit, stop = oco["orders"]
    assert (limit["type"], stop["type"]) == ("limit", "stop_limit")
    assert limit["list_id"] == stop["list_id"] == oco["list_id"]
    assert stop["price"] == "28900.00" and stop["stop_price"] == "29000.00"
    assert api.balances(alice)["BTC"] == ("9.90000000", "0.10000000")  # locked once
    error(
        api.post("/api/v1/order-lists", json=body, headers=alice.headers),
        409,
        "DUPLICATE_CLIENT_LIST_ID",
        "client_list_id",
    )
    read = api.get(f"/api/v1/order-lists/{oco['list_id']}", headers=alice.headers)
    assert read.status_code == 200 and read.json() == oco
    error(
        api.get(f"/api/v1/order-lists/{oco['list_id']}", headers=funded(api).headers),
        404,
        "ORDER_NOT_FOUND",
    )

    cancelled = api.delete(f"/api/v1/order-lists/{oco['list_id']}", headers=alice.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "done"
    assert [o["status"] for o in cancelled.json()["orders"]] == ["cancelled", "cancelled"]
    assert api.balances(alice)["BTC"] == ("10.00000000", "0.00000000")
    error(
        api.delete(f"/api/v1/order-lists/{oco['list_id']}", headers=alice.headers),
        422,
        "ORDER_CLOSED",
    )

    buy = {**body, "side": "buy", "price": "28000", "stop_price": "31000", "client_list_id": None}
    del buy["stop_limit_price"]
    error(
        api.post("/api/v1/order-lists", json=buy, headers=alice.headers),
        400,
        "INVALID_FIELD",
        "stop_limit_price",
    )
    triggers_now = {**body, "stop_price": "30500", "client_list_id": "protect-2"}
    error(
        api.post("/api/v1/order-lists", json=triggers_now, headers=alice.headers),
        422,
        "WOULD_TRIGGER_IMMEDIATELY",
    )
    assert api.balances(alice)["BTC"] == ("10.00000000", "0.00000000")


def test_market_statuses_set_by_the_admin(api: Api) -> None:
    alice = funded(api)

    def status() -> str:
        markets = api.get("/api/v1/markets").json()
        return next(m["status"] for m in markets if m["market"] == ETH)

    def set_status(value: str) -> httpx.Response:
        return api.post(
            f"/api/v1/admin/markets/{ETH}/status", json={"status": value}, headers=ADMIN
        )

    resting = api.place(alice, market=ETH, side="sell", price="4000", qty="1")
    assert resting.status_code == 201, resting.text
    try:
        error(set_status("closed"), 400, "INVALID_FIELD", "status")
        error(
            api.post(f"/api/v1/admin/markets/{ETH}/status", json={"status": "halted"}),
            401,
            "UNAUTHENTICATED",
        )
        answer = set_status("cancel_only")
        assert answer.status_code == 200 and answer.json() == {
            "market": ETH,
            "status": "cancel_only",
        }
        assert status() == "cancel_only"
        error(
            api.place(alice, market=ETH, side="buy", price="3000", qty="1"),
            422,
            "MARKET_CANCEL_ONLY",
        )

        assert set_status("post_only").status_code == 200 and status() == "post_only"
        error(
            api.place(alice, market=ETH, side="buy", price="4000", qty="1"),
            422,
            "POST_ONLY_WOULD_TAKE",
        )
        passive = api.place(alice, market=ETH, side="buy", price="3000", qty="1")
        assert passive.status_code == 201 and passive.json()["status"] == "new"
        cancelled = api.delete(
            f"/api/v1/orders/{resting.json()['order_id']}", headers=alice.headers
        )
        assert cancelled.status_code == 200
    finally:
        assert set_status("trading").status_code == 200
    assert status() == "trading"
    api.delete("/api/v1/orders", headers=alice.headers)


def test_the_served_document_describes_the_new_fields(api: Api) -> None:
    spec = api.get("/schema/openapi.json").json()
    schemas = spec["components"]["schemas"]
    order_out = schemas["OrderOut"]["properties"]
    assert {"stop_price", "expire_time", "triggered", "list_id"} <= set(order_out)
    request = schemas["OrderRequest"]["properties"]
    assert {"stop_price", "expire_time"} <= set(request)
    types = {
        value
        for option in request["type"].get("oneOf", [request["type"]])
        for value in option.get("enum", [])
    }
    assert {"stop_limit", "stop_market", "take_profit_limit", "take_profit_market"} <= types
    market_status = schemas["MarketOut"]["properties"]["status"]
    assert "cancel_only" in str(market_status) and "post_only" in str(market_status)
    for path in ("/api/v1/orders/batch", "/api/v1/orders/batch-cancel", "/api/v1/order-lists"):
        assert spec["paths"][path]["post"]["security"] == [{"bearer": []}]
    assert schemas["OrderListRequest"]["additionalProperties"] is False
