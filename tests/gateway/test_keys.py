"""API keys with scopes (API.md "API keys with scopes"), against real processes: each scope
allows exactly its calls, allowed_ips holds (a forwarded address only from a trusted
proxy), a revoked key fails at once on every worker."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from gateway_kit import Api, User, auth, client, error, exchange
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from harness.cluster import Cluster

Users = Callable[..., User]
SCOPES = ("read", "trade", "withdraw", "keys")


def new_key(api: Api, owner: User, **body: Any) -> dict[str, Any]:
    made = api.post("/api/v1/keys", json={"label": "test", **body}, headers=owner.headers)
    assert made.status_code == 201, made.text
    created: dict[str, Any] = made.json()
    return created


def test_sign_up_key_has_every_scope_and_new_keys_are_shown_once(api: Api, users: Users) -> None:
    owner = users()
    [first] = api.get("/api/v1/keys", headers=owner.headers).json()
    assert first["scopes"] == list(SCOPES) and first["allowed_ips"] == [] and first["key_id"] == "1"
    made = new_key(
        api, owner, label="bot", scopes=["trade", "read"], allowed_ips=["10.0.0.7/8", "::1"]
    )
    assert made["api_key"].startswith(f"{owner.user_id}.") and made["key_id"] == "2"
    assert made["scopes"] == ["read", "trade"]
    assert made["allowed_ips"] == ["10.0.0.0/8", "::1"]
    listed = api.get("/api/v1/keys", headers=owner.headers).json()
    assert [k["key_id"] for k in listed] == ["1", "2"]
    assert all("api_key" not in k for k in listed)
    assert listed[1] == {k: v for k, v in made.items() if k != "api_key"}


def test_key_requests_are_checked(api: Api, users: Users) -> None:
    owner = users()
    post = lambda body: api.post("/api/v1/keys", json=body, headers=owner.headers)  # noqa: E731
    error(post({"label": "x", "scopes": []}), 400, "INVALID_FIELD", "scopes")
    error(post({"label": "x", "scopes": ["admin"]}), 400, "INVALID_FIELD", "scopes[0]")
    error(post({"label": "x", "scopes": ["read", "read"]}), 400, "INVALID_FIELD", "scopes")
    error(post({"label": "", "scopes": ["read"]}), 400, "INVALID_FIELD", "label")
    error(
        post({"label": "x", "scopes": ["read"], "allowed_ips": ["10.0.0.300"]}),
        400,
        "INVALID_FIELD",
        "allowed_ips",
    )
    error(api.delete("/api/v1/keys/99", headers=owner.headers), 404, "KEY_NOT_FOUND", "key_id")
    error(api.delete("/api/v1/keys/01", headers=owner.headers), 404, "KEY_NOT_FOUND", "key_id")


def test_each_scope_allows_exactly_its_calls(api: Api, users: Users) -> None:
    owner = users(USDT="100000", BTC="1")
    resting = api.place(owner, side="buy", price="10000", qty="0.1").json()
    order_path = f"/api/v1/orders/{resting['order_id']}"
    calls: list[tuple[str, str, str, dict[str, Any]]] = [
        ("read", "GET", "/api/v1/balances", {}),
        ("read", "GET", "/api/v1/orders", {"params": {"status": "all"}}),
        ("read", "GET", order_path, {}),
        ("read", "GET", "/api/v1/orders/by-client-id/none-such", {}),
        ("read", "GET", "/api/v1/fills", {}),
        (
            "trade",
            "POST",
            "/api/v1/orders",
            {
                "json": {
                    "market": "BTC-USDT",
                    "side": "buy",
                    "type": "limit",
                    "price": "9000",
                    "qty": "0.1",
                }
            },
        ),
        ("trade", "PATCH", order_path, {"json": {"qty": "0.09"}}),
        ("trade", "DELETE", "/api/v1/orders/1", {}),
        ("trade", "DELETE", "/api/v1/orders", {"params": {"market": "ETH-USDT"}}),
        ("trade", "POST", "/api/v1/deposits", {"json": {"asset": "USDT", "amount": "1"}}),
        (
            "trade",
            "POST",
            "/api/v1/orders/batch",
            {
                "json": {
                    "orders": [
                        {
                            "market": "BTC-USDT",
                            "side": "buy",
                            "type": "limit",
                            "price": "9000",
                            "qty": "0.1",
                        }
                    ]
                }
            },
        ),
        ("trade", "POST", "/api/v1/orders/batch-cancel", {"json": {"order_ids": ["1"]}}),
        ("trade", "POST", "/api/v1/orders/cancel-after", {"json": {"timeout_ms": 0}}),
        (
            "trade",
            "POST",
            "/api/v1/order-lists",
            {
                "json": {
                    "market": "BTC-USDT",
                    "side": "sell",
                    "qty": "0.01",
                    "price": "90000",
                    "stop_price": "1000",
                }
            },
        ),
        ("trade", "DELETE", "/api/v1/order-lists/1", {}),
        ("read", "GET", "/api/v1/order-lists/1", {}),
        ("withdraw", "POST", "/api/v1/withdrawals", {"json": {"asset": "USDT", "amount": "1"}}),
        ("keys", "GET", "/api/v1/keys", {}),
        ("keys", "POST", "/api/v1/keys", {"json": {"label": "more", "scopes": ["read"]}}),
        ("keys", "DELETE", "/api/v1/keys/999", {}),
    ]
    keys = {scope: new_key(api, owner, scopes=[scope])["api_key"] for scope in SCOPES}
    for scope, key in keys.items():
        for needed, method, path, options in calls:
            answer = api.request(method, path, headers=auth(key), **options)
            where = (scope, method, path, answer.status_code, answer.text)
            if needed == scope:
                assert answer.status_code < 400 or answer.json()["code"] not in (
                    "FORBIDDEN_SCOPE",
                    "UNAUTHENTICATED",
                ), where
            else:
                assert answer.status_code == 403, where
                assert answer.json()["code"] == "FORBIDDEN_SCOPE", where


def test_revoking_a_key_stops_it_at_once_but_not_the_last_keys_key(api: Api) -> None:
    owner = api.new_user(USDT="1000")  # no orders: its sign-up key goes, below
    bot = new_key(api, owner, scopes=["read", "trade"])
    assert api.get("/api/v1/balances", headers=auth(bot["api_key"])).status_code == 200
    revoked = api.delete(f"/api/v1/keys/{bot['key_id']}", headers=owner.headers)
    assert revoked.status_code == 200 and revoked.json()["key_id"] == bot["key_id"]
    error(api.get("/api/v1/balances", headers=auth(bot["api_key"])), 401, "UNAUTHENTICATED")
    again = api.delete(f"/api/v1/keys/{bot['key_id']}", headers=owner.headers)
    error(again, 404, "KEY_NOT_FOUND", "key_id")

    # The sign-up key is the only one with the keys scope: it cannot go.
    error(api.delete("/api/v1/keys/1", headers=owner.headers), 422, "LAST_KEYS_KEY", "key_id")
    manager = new_key(api, owner, scopes=["keys"])
    assert api.delete("/api/v1/keys/1", headers=auth(manager["api_key"])).status_code == 200
    error(api.get("/api/v1/balances", headers=owner.headers), 401, "UNAUTHENTICATED")
    error(
        api.delete(f"/api/v1/keys/{manager['key_id']}", headers=auth(manager["api_key"])),
        422,
        "LAST_KEYS_KEY",
        "key_id",
    )


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    replace = {
        "max_connections_per_address = 4096": "max_connections_per_address = 4096\n"
        'trusted_proxies = ["127.0.0.2", "127.0.0.128/25"]',
        "workers = 1": "workers = 2",
    }
    with exchange(tmp_path_factory.mktemp("proxied"), replace=replace) as pair:
        yield pair


def test_allowed_ips_hold_and_forwarded_addresses_count_only_from_trusted_proxies(
    proxied: tuple[Cluster, Api],
) -> None:
    _, api = proxied
    owner = api.new_user(USDT="10")
    office = new_key(api, owner, scopes=["read"], allowed_ips=["10.1.0.0/16", "2001:db8::/32"])
    local = new_key(api, owner, scopes=["read"], allowed_ips=["127.0.0.1"])
    headers = auth(office["api_key"])

    def balances(source: str, forwarded: str | None, key: dict[str, Any]) -> httpx.Response:
        extra = {} if forwarded is None else {"X-Forwarded-For": forwarded}
        with client(api.base_url, source) as http:
            return http.get("/api/v1/balances", headers={**auth(key["api_key"]), **extra})

    assert balances("127.0.0.1", None, local).status_code == 200
    error(balances("127.0.0.3", None, local), 403, "IP_NOT_ALLOWED")
    error(balances("127.0.0.1", None, office), 403, "IP_NOT_ALLOWED")
    # An untrusted peer's header is ignored.
    error(balances("127.0.0.1", "10.1.2.3", office), 403, "IP_NOT_ALLOWED")
    # A trusted proxy's is read from its end, past every trusted hop.
    assert balances("127.0.0.2", "10.1.2.3", office).status_code == 200
    assert balances("127.0.0.2", "6.6.6.6, 10.1.2.3, 127.0.0.200", office).status_code == 200
    error(balances("127.0.0.2", "10.1.2.3, 6.6.6.6", office), 403, "IP_NOT_ALLOWED")
    assert balances("127.0.0.130", "2001:db8::5", office).status_code == 200
    error(balances("127.0.0.2", "not-an-address", office), 403, "IP_NOT_ALLOWED")
    assert headers  # the key is sent the same way in every call above


def test_a_revoked_key_fails_on_every_worker(proxied: tuple[Cluster, Api]) -> None:
    _, api = proxied
    owner = api.new_user()
    bot = new_key(api, owner, scopes=["read"])
    # Each new connection may land on either worker.
    for _ in range(6):
        with client(api.base_url) as http:
            assert http.get("/api/v1/balances", headers=auth(bot["api_key"])).status_code == 200
    assert api.delete(f"/api/v1/keys/{bot['key_id']}", headers=owner.headers).status_code == 200
    for _ in range(6):
        with client(api.base_url) as http:
            answer = http.get("/api/v1/balances", headers=auth(bot["api_key"]))
            error(answer, 401, "UNAUTHENTICATED")


def _feed(cluster: Cluster) -> Any:
    return connect(f"ws://127.0.0.1:{cluster.config.feed_ws.port}/ws", open_timeout=10)


def _next_op(conn: Any, op: str) -> dict[str, Any]:
    """The next message of ``op`` (other messages, pushes, are skipped)."""
    while True:
        message = json.loads(conn.recv(timeout=10))
        if message.get("op") == op:
            return dict(message)


def test_the_feeds_private_channels_need_read_and_end_when_the_key_is_revoked(
    api: Api, users: Users, cluster: Cluster
) -> None:
    owner = users(USDT="1000")
    writer = new_key(api, owner, scopes=["trade"])
    reader = new_key(api, owner, scopes=["read"])
    with _feed(cluster) as conn:
        conn.send(json.dumps({"op": "auth", "api_key": writer["api_key"]}))
        assert "read scope" in _next_op(conn, "error")["message"]
        conn.send(json.dumps({"op": "auth", "api_key": reader["api_key"]}))
        assert _next_op(conn, "authenticated")["user_id"] == owner.user_id
        conn.send(json.dumps({"op": "subscribe", "channel": "balances"}))
        _next_op(conn, "subscribed")
        revoked = api.delete(f"/api/v1/keys/{reader['key_id']}", headers=owner.headers)
        assert revoked.status_code == 200
        assert "revoked" in _next_op(conn, "error")["message"]
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                conn.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_the_feed_honours_allowed_ips(api: Api, users: Users, cluster: Cluster) -> None:
    owner = users()
    elsewhere = new_key(api, owner, scopes=["read"], allowed_ips=["192.0.2.0/24"])
    with _feed(cluster) as conn:
        conn.send(json.dumps({"op": "auth", "api_key": elsewhere["api_key"]}))
        assert _next_op(conn, "error")["message"] == "invalid api key"
