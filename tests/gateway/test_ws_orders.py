"""Order entry over the gateway's WebSocket (API.md "Order entry over WebSocket"), against
real processes: every op answers as its REST twin does, pipelined requests are matched
by id, bad messages leave the connection open, limits close it."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from gateway_kit import Api, User, exchange, wait_until
from ws_kit import OrderEntry, ok, refused

from harness.cluster import Cluster

Users = Callable[..., User]


def port(cluster: Cluster) -> int:
    return cluster.config.gateway.port


@pytest.fixture
def entry(cluster: Cluster) -> Iterator[Callable[[], OrderEntry]]:
    opened: list[OrderEntry] = []

    def open_one() -> OrderEntry:
        connection = OrderEntry(port(cluster))
        opened.append(connection)
        return connection

    yield open_one
    for connection in opened:
        connection.close()


def test_every_op_answers_as_its_rest_twin(
    api: Api, users: Users, entry: Callable[[], OrderEntry]
) -> None:
    alice = users(USDT="100000", BTC="10")
    ws = entry()
    authed = ok(ws.auth(alice.key))
    assert authed == {"user_id": alice.user_id, "scopes": ["read", "trade", "withdraw", "keys"]}

    body = {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "20000", "qty": "0.5"}
    placed = ok(ws.call("order.place", {**body, "client_order_id": "ws-1"}), 201)
    rest = api.get(f"/api/v1/orders/{placed['order_id']}", headers=alice.headers).json()
    assert placed == rest and placed["status"] == "new"

    assert ok(ws.call("order.get", {"order_id": placed["order_id"]})) == rest
    assert ok(ws.call("order.get", {"client_order_id": "ws-1"})) == rest
    listed = ok(ws.call("orders.list", {"market": "BTC-USDT"}))
    assert listed == api.get("/api/v1/orders", headers=alice.headers).json() == [rest]
    assert ok(ws.call("balances.get")) == api.get("/api/v1/balances", headers=alice.headers).json()

    amended = ok(ws.call("order.amend", {"order_id": placed["order_id"], "qty": "0.4"}))
    assert amended["qty"] == "0.4000" and amended["order_id"] == placed["order_id"]
    cancelled = ok(ws.call("order.cancel", {"order_id": placed["order_id"]}))
    assert cancelled["status"] == "cancelled"
    refused(ws.call("order.cancel", {"order_id": placed["order_id"]}), 422, "ORDER_CLOSED")

    for price in ("19000", "18000"):
        ok(ws.call("order.place", {**body, "price": price}), 201)
    all_cancelled = ok(ws.call("order.cancel_all", {"market": "BTC-USDT"}))
    assert sorted(o["price"] for o in all_cancelled) == ["18000.00", "19000.00"]
    assert ok(ws.call("orders.list")) == []
    history = ok(ws.call("orders.list", {"status": "all", "from_id": "0"}))
    assert [o["status"] for o in history] == ["cancelled"] * 3

    # The same refusals as REST, with their codes and fields.
    refused(ws.call("order.place", {**body, "price": "20000.001"}), 400, "OFF_TICK", "price")
    again = ws.call("order.place", {**body, "client_order_id": "ws-1"})
    refused(again, 409, "DUPLICATE_CLIENT_ORDER_ID")
    refused(ws.call("order.place", {**body, "post_only": "yes"}), 400, "INVALID_FIELD", "post_only")
    refused(ws.call("order.place", {**body, "colour": "red"}), 400, "INVALID_FIELD", "colour")
    refused(ws.call("orders.list", {"limit": 0}), 400, "INVALID_FIELD", "limit")
    refused(ws.call("orders.list", {"sttus": "all"}), 400, "INVALID_FIELD", "sttus")
    refused(ws.call("order.get", {"order_id": "1" * 25}), 400, "INVALID_FIELD", "order_id")
    refused(ws.call("order.batch", {"orders": []}), 400, "INVALID_FIELD", "orders")
    assert ok(ws.call("session.set", {"cancel_on_disconnect": True})) == {
        "cancel_on_disconnect": True
    }


def test_a_thousand_pipelined_orders_are_each_answered_by_their_id(
    users: Users, entry: Callable[[], OrderEntry]
) -> None:
    trader = users(USDT="10000000")
    ws = entry()
    ok(ws.auth(trader.key))
    sent = {}
    for number in range(1000):
        params = {
            "market": "BTC-USDT",
            "side": "buy",
            "type": "limit",
            "price": "1000",
            "qty": "0.01",
            "client_order_id": f"p-{number}",
        }
        sent[ws.send("order.place", params, id=f"req-{number}")] = f"p-{number}"
    for request_id, client_order_id in sent.items():
        order = ok(ws.answer(request_id, timeout_s=60.0), 201)
        assert order["client_order_id"] == client_order_id
    cancelled = ok(ws.call("order.cancel_all", {}))
    assert len(cancelled) == 1000


def test_bad_messages_are_answered_and_the_connection_stays(
    users: Users, entry: Callable[[], OrderEntry]
) -> None:
    ws = entry()
    ws.send_raw("not json {")
    refused(ws.null_answer(), 400, "INVALID_FIELD", "body")
    ws.send_raw('{"op": "balances.get"}')
    refused(ws.null_answer(), 400, "INVALID_FIELD", "id")
    ws.send_raw('{"id": true, "op": "balances.get"}')
    refused(ws.null_answer(), 400, "INVALID_FIELD", "id")
    ws.send_raw('{"id": "' + "x" * 65 + '", "op": "balances.get"}')
    refused(ws.null_answer(), 400, "INVALID_FIELD", "id")
    ws.send_raw("[" * 100 + "]" * 100)
    refused(ws.null_answer(), 400, "INVALID_FIELD", "body")
    refused(ws.call("order.teleport"), 400, "INVALID_FIELD", "op")
    refused(ws.call("balances.get"), 401, "UNAUTHENTICATED")
    refused(ws.auth("1.not-a-key"), 401, "UNAUTHENTICATED")
    refused(ws.call("balances.get", id="same-id-twice"), 401, "UNAUTHENTICATED")
    trader = users(USDT="5")
    ok(ws.auth(trader.key))
    assert ok(ws.call("balances.get", id=7))[0]["asset"] == "BTC"
    refused(ws.call("balances.get", {"extra": 1}), 400, "INVALID_FIELD", "extra")
    refused(ws.call("balances.get", params=[1]), 400, "INVALID_FIELD", "params")
    refused(ws.auth(trader.key), 400, "INVALID_FIELD", "op")


def test_cancel_on_disconnect_cancels_what_the_connection_placed(
    api: Api, users: Users, cluster: Cluster
) -> None:
    trader = users(USDT="100000")
    body = {"market": "BTC-USDT", "side": "buy", "type": "limit", "qty": "0.1"}
    kept = api.place(trader, side="buy", price="15000", qty="0.1").json()
    ws = OrderEntry(port(cluster))
    ok(ws.auth(trader.key))
    ok(ws.call("session.set", {"cancel_on_disconnect": True}))
    placed = [ok(ws.call("order.place", {**body, "price": p}), 201) for p in ("16000", "17000")]
    ws.close()

    def cancelled() -> bool:
        every = api.get("/api/v1/orders", params={"status": "all"}, headers=trader.headers)
        statuses = {o["order_id"]: o["status"] for o in every.json()}
        return all(statuses[o["order_id"]] == "cancelled" for o in placed)

    wait_until(cancelled, 10.0, "the orders placed through the connection are cancelled")
    still = api.get(f"/api/v1/orders/{kept['order_id']}", headers=trader.headers).json()
    assert still["status"] == "new"  # placed over REST: not the connection's


def test_without_cancel_on_disconnect_orders_stay(api: Api, users: Users, cluster: Cluster) -> None:
    trader = users(USDT="100000")
    ws = OrderEntry(port(cluster))
    ok(ws.auth(trader.key))
    body = {"market": "BTC-USDT", "side": "buy", "type": "limit", "qty": "0.1", "price": "15000"}
    placed = ok(ws.call("order.place", body), 201)
    ws.close()
    # A later request on another connection is answered after the close was handled.
    other = OrderEntry(port(cluster))
    ok(other.auth(trader.key))
    assert ok(other.call("order.get", {"order_id": placed["order_id"]}))["status"] == "new"
    other.close()


def test_a_revoked_key_stops_the_connections_trading(
    api: Api, users: Users, entry: Callable[[], OrderEntry]
) -> None:
    owner = users(USDT="100000")
    made = api.post(
        "/api/v1/keys", json={"label": "bot", "scopes": ["read", "trade"]}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    ws = entry()
    assert ok(ws.auth(made.json()["api_key"]))["scopes"] == ["read", "trade"]
    body = {"market": "BTC-USDT", "side": "buy", "type": "limit", "qty": "0.1", "price": "15000"}
    ok(ws.call("order.place", body), 201)
    revoked = api.delete(f"/api/v1/keys/{made.json()['key_id']}", headers=owner.headers)
    assert revoked.status_code == 200, revoked.text
    refused(ws.call("order.place", body), 401, "UNAUTHENTICATED")
    assert ws.closed()[0] == 1008
    open_orders = api.get("/api/v1/orders", headers=owner.headers).json()
    assert len(open_orders) == 1


def test_a_key_without_trade_scope_cannot_trade_over_the_websocket(
    api: Api, users: Users, entry: Callable[[], OrderEntry]
) -> None:
    owner = users(USDT="100000")
    made = api.post(
        "/api/v1/keys", json={"label": "viewer", "scopes": ["read"]}, headers=owner.headers
    ).json()
    ws = entry()
    ok(ws.auth(made["api_key"]))
    body = {"market": "BTC-USDT", "side": "buy", "type": "limit", "qty": "0.1", "price": "15000"}
    refused(ws.call("order.place", body), 403, "FORBIDDEN_SCOPE")
    assert ok(ws.call("orders.list")) == []


def test_only_the_order_entry_path_upgrades_and_its_head_is_bounded(cluster: Cluster) -> None:
    handshake = (
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    for path, extra, expected in (
        ("/api/v1/ws", "", b"HTTP/1.1 101"),
        ("/api/v1/markets", "", b"HTTP/1.1 200"),
        ("/ws", "", b"HTTP/1.1 404"),
        ("/api/v1/ws", "X-Pad: " + "a" * 20_000 + "\r\n", b"HTTP/1.1 431"),
    ):
        with socket.create_connection(("127.0.0.1", port(cluster)), timeout=10) as sock:
            sock.sendall(handshake.format(path=path, extra=extra).encode())
            assert sock.recv(65536).startswith(expected), (path, expected)


def test_a_message_past_the_size_limit_closes_with_1009(
    users: Users, entry: Callable[[], OrderEntry]
) -> None:
    ws = entry()
    ws.send_raw('{"id": 1, "op": "x", "pad": "' + "a" * 70_000 + '"}')
    assert ws.closed()[0] == 1009


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    replace = {
        "rate_limit_per_s = 100000": "rate_limit_per_s = 5",
        "rate_limit_burst = 100000": "rate_limit_burst = 10",
        "max_connections_per_address = 4096": "max_connections_per_address = 4096\n"
        "ws_max_refusals = 20",
    }
    with exchange(tmp_path_factory.mktemp("ws-strict"), replace=replace) as pair:
        yield pair


def test_a_connection_past_its_rate_limit_gets_429_then_is_closed(
    strict: tuple[Cluster, Api],
) -> None:
    cluster, api = strict
    trader = api.new_user()
    ws = OrderEntry(port(cluster))
    ok(ws.auth(trader.key))
    ids = [ws.send("balances.get") for _ in range(40)]
    statuses = []
    for request_id in ids:
        try:
            statuses.append(ws.answer(request_id)["status"])
        except Exception:
            break
    assert statuses[:5] == [200] * 5 and 429 in statuses
    assert ws.closed()[0] == 1008


def test_the_openapi_page_links_to_the_protocols_description(api: Api) -> None:
    document = api.get("/schema/openapi.json").json()
    assert "/docs/api" in document["info"]["description"]
    assert document["externalDocs"]["url"] == "/docs/api"
    notes = api.get("/docs/api")
    assert notes.status_code == 200 and notes.headers["content-type"].startswith("text/markdown")
    assert "## WebSocket: order entry" in notes.text and "session.set" in notes.text


def test_batches_and_the_dead_mans_switch_over_the_websocket(
    api: Api, users: Users, entry: Callable[[], OrderEntry]
) -> None:
    trader = users(USDT="100000")
    ws = entry()
    ok(ws.auth(trader.key))
    order = {"market": "BTC-USDT", "side": "buy", "type": "limit", "qty": "0.1"}
    results = ok(
        ws.call(
            "order.batch",
            {"orders": [{**order, "price": "15000"}, {**order, "price": "15000.001"}]},
        )
    )
    assert results[0]["status"] == 201 and results[0]["order"]["status"] == "new"
    assert results[1]["status"] == 400 and results[1]["error"]["code"] == "OFF_TICK"
    armed = ok(ws.call("cancel_after", {"timeout_ms": 60_000}))
    assert armed["trigger_time"] == armed["now"] + 60_000
    assert ok(ws.call("cancel_after", {"timeout_ms": 0}))["trigger_time"] is None
    refused(ws.call("cancel_after", {"timeout_ms": 5}), 400, "INVALID_FIELD", "timeout_ms")
    placed = results[0]["order"]["order_id"]
    cancelled = ok(ws.call("order.cancel", {"order_id": placed, "recv_window_ms": 2000}))
    assert cancelled["status"] == "cancelled"
    refused(
        ws.call("order.cancel", {"order_id": placed, "recv_window_ms": 5}),
        400,
        "INVALID_FIELD",
        "recv_window_ms",
    )
