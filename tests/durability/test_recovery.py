"""Real processes stopped cleanly and killed under load come back with nothing lost."""

from __future__ import annotations

import json
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_order_flow import BTC, USDT, Trader, assert_conserved, settled_totals

from actors.accounts.protocol import (
    CancelOrder,
    Deposit,
    GetOrder,
    ListOrders,
    OrderReply,
    OrdersReply,
    PlaceOrder,
)
from actors.engine.protocol import DepthQuery, DepthReply, EngineOutbound
from harness.cluster import Cluster, cluster


def log_records(cluster: Cluster, name: str, msg: str) -> list[dict[str, object]]:
    records = []
    for line in cluster.read_log(name).splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("msg") == msg:
                records.append(record)
    return records


def test_a_clean_stop_snapshots_and_the_restart_replays_nothing(actors: Cluster) -> None:
    alice, bob = Trader(actors, 0, "alice"), Trader(actors, 1, "bob")
    alice.call(Deposit, asset="USDT", amount=50_000 * USDT)
    order = alice.call(
        PlaceOrder, market="BTC-USDT", side="buy", type="limit", price=30_000 * USDT, qty=BTC // 10
    )
    assert isinstance(order, OrderReply)
    del bob
    for name in ("engine-BTC-USDT", "accounts-0"):
        assert actors.stop(name, signal.SIGTERM) == 0
        stopped = log_records(actors, name, "stopped with a snapshot")[-1]["state_hash"]
        if name.startswith("engine"):
            actors.start_engine("BTC-USDT")
        else:
            actors.start_shard(0)
        recovered = log_records(actors, name, "recovered")[-1]
        assert recovered["replayed"] == 0
        assert recovered["state_hash"] == stopped
    alice.client = actors.shard_client(0)
    again = alice.call(GetOrder, order_id=order.order.order_id)
    assert isinstance(again, OrderReply) and again.order.status == "new"


@pytest.fixture(params=[100_000, 25], ids=["snapshot-every-100000", "snapshot-every-25"])
def snapshotting(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """The actors, taking snapshots rarely or (written by children) all the time."""
    with cluster(tmp_path, snapshot_every=request.param) as running:
        running.start_actors()
        yield running


def test_kill_minus_nine_under_load_loses_no_acknowledged_order(snapshotting: Cluster) -> None:
    actors = snapshotting
    rng = random.Random(11)
    traders = [Trader(actors, index % 2, f"user{index}") for index in range(6)]
    for trader in traders:
        trader.call(Deposit, asset="USDT", amount=1_000_000 * USDT)
        trader.call(Deposit, asset="BTC", amount=50 * BTC)
    acknowledged: dict[int, tuple[Trader, int]] = {}

    def load(count: int) -> None:
        for _ in range(count):
            trader = rng.choice(traders)
            try:
                reply = trader.call(
                    PlaceOrder,
                    market="BTC-USDT",
                    side=rng.choice(["buy", "sell"]),
                    type="limit",
                    price=(30_000 + rng.randint(-5, 5)) * USDT,
                    qty=rng.randint(1, 20) * 10_000,
                )
            except TimeoutError:
                trader.client = actors.shard_client(trader.shard)
                continue
            if isinstance(reply, OrderReply):
                acknowledged[reply.order.order_id] = (trader, len(reply.order.fills))
                if rng.random() < 0.3:
                    trader.call(CancelOrder, order_id=reply.order.order_id)

    load(300)
    actors.kill("engine-BTC-USDT")
    actors.start_engine("BTC-USDT")
    load(300)
    actors.kill("accounts-1")
    actors.start_shard(1)
    for trader in traders:
        trader.client = actors.shard_client(trader.shard)
    load(300)
    actors.kill("engine-BTC-USDT")
    actors.kill("accounts-0")
    actors.start_engine("BTC-USDT")
    actors.start_shard(0)
    for trader in traders:
        trader.client = actors.shard_client(trader.shard)
    load(200)

    assert_conserved(settled_totals(actors))
    for order_id, (trader, fills_seen) in acknowledged.items():
        reply = trader.call(GetOrder, order_id=order_id)
        assert isinstance(reply, OrderReply), order_id
        assert len(reply.order.fills) >= fills_seen
    believed: dict[tuple[str, int], int] = {}
    for trader in traders:
        reply = trader.call(ListOrders, open_only=True, limit=1000)
        assert isinstance(reply, OrdersReply)
        for order in reply.orders:
            key = (order.side, order.price)
            believed[key] = believed.get(key, 0) + order.qty - order.filled_qty
    client = actors.engine_client("BTC-USDT")
    depth = client.call(DepthQuery(0), EngineOutbound)
    assert isinstance(depth, DepthReply)
    book = {("buy", p): q for p, q in depth.bids} | {("sell", p): q for p, q in depth.asks}
    assert book == believed

    if actors.config.journal.snapshot_every < 100:
        # A clean stop waits for a running writer, so every snapshot begun is in the log.
        for name in ("engine-BTC-USDT", "accounts-0", "accounts-1"):
            assert actors.stop(name, signal.SIGTERM) == 0
            assert log_records(actors, name, "snapshot written"), name
            assert not log_records(actors, name, "snapshot failed"), name
