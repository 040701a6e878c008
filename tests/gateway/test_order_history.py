"""History without gaps (API.md), against real processes: 5,000 orders of one user (some
filled, most closed at once), every one readable by id and by paging, the same after a
restart from snapshot and journal, after a crash, and after the store was deleted."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_kit import Api, User, error, exchange, reaches_every_actor, shard_of, wait_until
from ws_kit import OrderEntry, ok

from harness.cluster import Cluster

ORDERS = 5_000
FILLED_EVERY = 10  # one order in ten takes a resting sell


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    # Snapshots every 3,000 records: the orders below cross several.
    replace = {"snapshot_every = 100000": "snapshot_every = 3000"}
    with exchange(tmp_path_factory.mktemp("history"), replace=replace) as pair:
        yield pair


@pytest.fixture(scope="module")
def trader(history: tuple[Cluster, Api]) -> tuple[User, list[str]]:
    """A user with ``ORDERS`` orders, all closed, placed over one WebSocket."""
    cluster, api = history
    subject = api.new_user(USDT="10000000")
    maker = api.new_user(BTC="100")
    for _ in range(ORDERS // FILLED_EVERY):
        assert api.place(maker, side="sell", price="30000", qty="0.001").status_code == 201
    ws = OrderEntry(cluster.config.gateway.port)
    ok(ws.auth(subject.key))
    ids = []
    for number in range(ORDERS):
        price = "30000" if number % FILLED_EVERY == 0 else "1000"
        params = {
            "market": "BTC-USDT",
            "side": "buy",
            "type": "limit",
            "time_in_force": "IOC",
            "price": price,
            "qty": "0.001",
            "client_order_id": f"h-{number}",
        }
        ids.append(ws.send("order.place", params))
    order_ids = [ok(ws.answer(i, timeout_s=120.0), 201)["order_id"] for i in ids]
    ws.close()
    return subject, order_ids


def pages(api: Api, user: User, path: str, id_field: str, **query: Any) -> list[dict[str, Any]]:
    """Every item of a list, paged by from_id 1,000 at a time."""
    seen: list[dict[str, Any]] = []
    from_id = 0
    while True:
        answer = api.get(
            path, params={**query, "from_id": from_id, "limit": 1000}, headers=user.headers
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        seen.extend(page)
        if len(page) < 1000:
            return seen
        from_id = int(page[-1][id_field]) + 1


def snapshot_of_history(api: Api, user: User) -> tuple[list[Any], list[Any], list[Any]]:
    orders = pages(api, user, "/api/v1/orders", "order_id", status="all")
    fills = pages(api, user, "/api/v1/fills", "fill_id")
    newest = api.get(
        "/api/v1/orders", params={"status": "all", "limit": 1000}, headers=user.headers
    )
    return orders, fills, newest.json()


def test_every_order_is_readable_by_id_and_by_paging_once(
    history: tuple[Cluster, Api], trader: tuple[User, list[str]]
) -> None:
    cluster, api = history
    user, order_ids = trader
    orders, fills, newest = snapshot_of_history(api, user)
    assert [o["order_id"] for o in orders] == order_ids  # oldest first, each once
    assert sorted(int(i) for i in order_ids) == [int(i) for i in order_ids]
    statuses = {o["status"] for o in orders}
    assert statuses == {"filled", "expired"}
    assert sum(o["status"] == "filled" for o in orders) == ORDERS // FILLED_EVERY
    assert len(fills) == ORDERS // FILLED_EVERY
    assert [f["fill_id"] for f in fills] == sorted({f["fill_id"] for f in fills}, key=int)
    assert [o["order_id"] for o in newest] == order_ids[::-1][:1000]

    ws = OrderEntry(cluster.config.gateway.port)
    ok(ws.auth(user.key))
    asked = [ws.send("order.get", {"order_id": order_id}) for order_id in order_ids]
    by_id = [ok(ws.answer(i, timeout_s=60.0)) for i in asked]
    assert by_id == orders
    assert ok(ws.call("order.get", {"client_order_id": "h-0"})) == orders[0]
    ws.close()

    # Bounds: a market, a time window, a page in the middle.
    moment = orders[2500]["created_at"]
    window = api.get(
        "/api/v1/orders",
        params={"status": "all", "start": moment, "end": moment, "limit": 1000},
        headers=user.headers,
    ).json()
    expected = [o for o in reversed(orders) if o["created_at"] == moment]
    assert window == expected
    eth = api.get(
        "/api/v1/orders", params={"status": "all", "market": "ETH-USDT"}, headers=user.headers
    )
    assert eth.json() == []


def test_an_old_client_order_id_is_still_refused(
    history: tuple[Cluster, Api], trader: tuple[User, list[str]]
) -> None:
    _, api = history
    user, _ = trader
    again = api.place(user, side="buy", price="1000", qty="0.001", client_order_id="h-0")
    error(again, 409, "DUPLICATE_CLIENT_ORDER_ID", "client_order_id")


def _restart_shard(cluster: Cluster, api: Api, shard: int, sig: int) -> None:
    cluster.stop(f"accounts-{shard}", sig)
    _start_shard(cluster, api, shard)


def _start_shard(cluster: Cluster, api: Api, shard: int) -> None:
    cluster.start_shard(shard)
    wait_until(lambda: reaches_every_actor(api.base_url), 20.0, "the gateway reaches the shard")


def test_restarts_and_a_deleted_store_answer_the_same_pages(
    history: tuple[Cluster, Api], trader: tuple[User, list[str]]
) -> None:
    cluster, api = history
    user, _ = trader
    before = snapshot_of_history(api, user)
    shard = shard_of(user.user_id)
    folder = cluster.data_dir / cluster.config.shards[shard].instances[0].name

    _restart_shard(cluster, api, shard, signal.SIGTERM)  # a clean stop: a snapshot, no replay
    assert snapshot_of_history(api, user) == before

    _restart_shard(cluster, api, shard, signal.SIGKILL)  # a crash: snapshot and journal replay
    assert snapshot_of_history(api, user) == before

    cluster.stop(f"accounts-{shard}", signal.SIGKILL)
    for name in ("history.sqlite", "history.sqlite-wal", "history.sqlite-shm"):
        (folder / name).unlink(missing_ok=True)
    _start_shard(cluster, api, shard)
    assert snapshot_of_history(api, user) == before
    assert "rebuilding the history store" in cluster.read_log(f"accounts-{shard}")
