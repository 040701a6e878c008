"""Public endpoints, the document, the UI, and what any route answers to a bad request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from gateway_kit import Api, User, error, wait_until

from harness.cluster import Cluster

Users = Callable[..., User]


def test_markets_list_the_rules(api: Api) -> None:
    answer = api.get("/api/v1/markets")
    assert answer.status_code == 200
    btc, eth = answer.json()
    assert btc == {
        "market": "BTC-USDT",
        "base": "BTC",
        "quote": "USDT",
        "tick": "0.01",
        "lot": "0.0001",
        "min_notional": "1.000000",
        "maker_fee": "0.001",
        "taker_fee": "0.002",
        "status": "trading",
    }
    assert eth["market"] == "ETH-USDT" and eth["lot"] == "0.001"


def test_depth_sums_levels_and_orders_the_sides(api: Api, users: Users) -> None:
    maker = users(USDT="100000", ETH="10")
    for side, price, qty in [
        ("buy", "900", "1"),
        ("buy", "900", "0.5"),
        ("buy", "950.5", "1"),
        ("buy", "800", "1"),
        ("sell", "1200", "1"),
        ("sell", "1100", "0.25"),
        ("sell", "1100", "0.25"),
        ("sell", "1300", "2"),
    ]:
        placed = api.place(maker, market="ETH-USDT", side=side, price=price, qty=qty)
        assert placed.status_code == 201, placed.text
    depth = api.get("/api/v1/depth", params={"market": "ETH-USDT"})
    assert depth.status_code == 200
    body = depth.json()
    assert body["market"] == "ETH-USDT" and body["seq"] > 0
    assert body["bids"] == [["950.50", "1.000"], ["900.00", "1.500"], ["800.00", "1.000"]]
    assert body["asks"] == [["1100.00", "0.500"], ["1200.00", "1.000"], ["1300.00", "2.000"]]
    top = api.get("/api/v1/depth", params={"market": "ETH-USDT", "limit": 1}).json()
    assert top["bids"] == [["950.50", "1.000"]] and top["asks"] == [["1100.00", "0.500"]]
    for params, field in [
        ({}, "market"),
        ({"market": "ETH-USDT", "limit": 0}, "limit"),
        ({"market": "ETH-USDT", "limit": 1001}, "limit"),
        ({"market": "ETH-USDT", "limit": "ten"}, "limit"),
    ]:
        error(api.get("/api/v1/depth", params=params), 400, "INVALID_FIELD", field)
    error(api.get("/api/v1/depth", params={"market": "eth-usdt"}), 400, "UNKNOWN_MARKET", "market")


def test_trades_klines_and_tickers_come_from_the_feed(api: Api, users: Users) -> None:
    maker = users(ETH="10")
    taker = users(USDT="100000")
    assert api.place(maker, market="ETH-USDT", side="sell", price="2468.13", qty="0.5").is_success
    assert api.place(taker, market="ETH-USDT", side="buy", price="2468.13", qty="0.2").is_success
    assert api.place(taker, market="ETH-USDT", side="buy", price="2468.13", qty="0.3").is_success

    def traded() -> bool:
        trades = api.get("/api/v1/trades", params={"market": "ETH-USDT", "limit": 2}).json()
        return [(t["price"], t["qty"]) for t in trades] == [
            ("2468.13", "0.300"),
            ("2468.13", "0.200"),
        ]

    wait_until(traded, what="the feed has the two trades")
    newest, older = api.get("/api/v1/trades", params={"market": "ETH-USDT", "limit": 2}).json()
    assert newest["taker_side"] == "buy" and newest["time"] >= older["time"]
    assert int(newest["trade_id"]) > int(older["trade_id"])

    klines = api.get("/api/v1/klines", params={"market": "ETH-USDT", "interval": "1m"})
    assert klines.status_code == 200, klines.text
    last = klines.json()[-1]
    assert set(last) == {"time", "open", "high", "low", "close", "volume"}
    assert last["close"] == "2468.13" and last["time"] % 60_000 == 0

    tickers = api.get("/api/v1/tickers").json()
    assert [t["market"] for t in tickers] == ["BTC-USDT", "ETH-USDT"]
    eth = api.get("/api/v1/tickers", params={"market": "ETH-USDT"}).json()
    assert len(eth) == 1 and eth[0]["last"] == "2468.13"
    assert set(eth[0]) == {
        "market",
        "last",
        "open",
        "high",
        "low",
        "volume",
        "quote_volume",
        "change",
    }

    error(api.get("/api/v1/trades", params={"market": "NO-PE"}), 400, "UNKNOWN_MARKET", "market")
    error(api.get("/api/v1/tickers", params={"market": "NO-PE"}), 400, "UNKNOWN_MARKET", "market")
    bad_interval = {"market": "ETH-USDT", "interval": "2m"}
    error(api.get("/api/v1/klines", params=bad_interval), 400, "INVALID_FIELD", "interval")
    reversed_range = {"market": "ETH-USDT", "interval": "1m", "start": 10, "end": 5}
    error(api.get("/api/v1/klines", params=reversed_range), 400, "INVALID_FIELD", "start")
    error(
        api.get("/api/v1/trades", params={"market": "ETH-USDT", "limit": 5000}),
        400,
        "INVALID_FIELD",
        "limit",
    )
    for start in (-1, 2**63, 10**20):
        bad_start = {"market": "ETH-USDT", "interval": "1m", "start": start}
        error(api.get("/api/v1/klines", params=bad_start), 400, "INVALID_FIELD", "start")
    assert api.get("/api/v1/klines", params={**bad_interval, "interval": "1d"}).is_success
    misspelt = {"market": "ETH-USDT", "limt": 5}
    error(api.get("/api/v1/trades", params=misspelt), 400, "INVALID_FIELD", "limt")


def test_info_and_health(api: Api, cluster: Cluster) -> None:
    info = api.get("/api/v1/info")
    assert info.status_code == 200
    assert info.json() == {
        "ws_url": f"ws://127.0.0.1:{cluster.config.feed_ws.port}/ws",
        "signup": True,
        "faucet": True,
    }
    wait_until(lambda: api.get("/api/v1/health").status_code == 200, what="health is 200")
    health = api.get("/api/v1/health").json()
    assert health["ok"] is True and health["feed"]["up"] is True
    assert [e["market"] for e in health["engines"]] == ["BTC-USDT", "ETH-USDT"]
    assert all(e["up"] and e["halted"] is False for e in health["engines"])
    assert [s["shard"] for s in health["shards"]] == [0, 1]
    assert all(s["up"] for s in health["shards"])
    assert set(health["feed"]["markets"]) == {"BTC-USDT", "ETH-USDT"}


def test_the_openapi_document_and_its_page(api: Api) -> None:
    page = api.get("/schema")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    document = api.get("/schema/openapi.json")
    assert document.status_code == 200
    spec: dict[str, Any] = document.json()
    paths = spec["paths"]
    expected = {
        ("get", "/api/v1/markets"),
        ("get", "/api/v1/depth"),
        ("get", "/api/v1/trades"),
        ("get", "/api/v1/klines"),
        ("get", "/api/v1/tickers"),
        ("post", "/api/v1/users"),
        ("post", "/api/v1/deposits"),
        ("post", "/api/v1/withdrawals"),
        ("get", "/api/v1/balances"),
        ("post", "/api/v1/orders"),
        ("get", "/api/v1/orders"),
        ("delete", "/api/v1/orders"),
        ("get", "/api/v1/orders/{order_id}"),
        ("patch", "/api/v1/orders/{order_id}"),
        ("delete", "/api/v1/orders/{order_id}"),
        ("get", "/api/v1/orders/by-client-id/{client_order_id}"),
        ("get", "/api/v1/fills"),
        ("post", "/api/v1/orders/batch"),
        ("post", "/api/v1/orders/batch-cancel"),
        ("post", "/api/v1/orders/cancel-after"),
        ("post", "/api/v1/order-lists"),
        ("get", "/api/v1/order-lists/{list_id}"),
        ("delete", "/api/v1/order-lists/{list_id}"),
        ("post", "/api/v1/keys"),
        ("get", "/api/v1/keys"),
        ("delete", "/api/v1/keys/{key_id}"),
        ("get", "/api/v1/info"),
        ("get", "/api/v1/health"),
        ("post", "/api/v1/admin/markets/{market}/halt"),
        ("post", "/api/v1/admin/markets/{market}/resume"),
        ("post", "/api/v1/admin/markets/{market}/status"),
        ("get", "/api/v1/admin/totals"),
    }
    assert {(m, p) for p, item in paths.items() for m in item} == expected
    place = paths["/api/v1/orders"]["post"]
    assert set(place["responses"]) >= {"201", "400", "401", "409", "422", "429", "503", "504"}
    assert place["security"] == [{"bearer": []}]
    order_request = spec["components"]["schemas"]["OrderRequest"]
    assert order_request["additionalProperties"] is False
    assert set(order_request["required"]) == {"market", "side", "type"}
    error_body = spec["components"]["schemas"]["ErrorBody"]
    assert set(error_body["properties"]) == {"code", "message", "field"}
    parameters = {p["name"] for p in paths["/api/v1/klines"]["get"]["parameters"]}
    assert parameters == {"market", "interval", "start", "end", "limit"}


def test_the_ui_is_served_at_the_root(api: Api) -> None:
    page = api.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Bourse" in page.text


def test_routes_methods_and_bodies_are_refused_cleanly(api: Api, users: Users) -> None:
    alice = users()
    error(api.get("/api/v1/nothing-here"), 404, "NOT_FOUND")
    error(api.get("/api/v2/markets"), 404, "NOT_FOUND")
    error(api.request("PUT", "/api/v1/orders", headers=alice.headers), 405, "METHOD_NOT_ALLOWED")
    error(api.post("/api/v1/markets"), 405, "METHOD_NOT_ALLOWED")
    headers = {**alice.headers, "content-type": "application/json"}
    for body, field in [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b"", "body"),
        (b'"text"', "body"),
        (b'{"market": "BTC-USDT"}', "side"),
        (b'{"market": "BTC-USDT", "side": "buy", "type": "stop"}', "type"),
        (b'{"market": "BTC-USDT", "side": "buy", "type": "limit", "post_only": []}', "post_only"),
        (b'{"market": "BTC-USDT", "side": "buy", "type": "limit", "extra": 1}', "extra"),
        (b'{"market": "", "side": "buy", "type": "limit"}', "market"),
    ]:
        error(
            api.post("/api/v1/orders", content=body, headers=headers), 400, "INVALID_FIELD", field
        )
    huge = b'{"market": "' + b"x" * 20_000 + b'"}'
    error(api.post("/api/v1/orders", content=huge, headers=headers), 413, "PAYLOAD_TOO_LARGE")


def test_answers_are_json_with_the_right_type(api: Api) -> None:
    for path in ("/api/v1/markets", "/api/v1/nothing", "/api/v1/balances"):
        answer = httpx.get(api.base_url + path)
        assert answer.headers["content-type"].startswith("application/json"), path


def test_a_query_parameter_given_as_null_is_refused_not_read_as_absent(api: Api) -> None:
    answer = api.get(
        "/api/v1/klines", params={"market": "BTC-USDT", "interval": "1m", "end": "null"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "INVALID_FIELD"
    assert answer.json()["field"] == "end"
