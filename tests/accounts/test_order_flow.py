"""The order flow between real engine and accounts processes over ZeroMQ on 127.0.0.1."""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

import msgspec

from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    BalancesReply,
    CancelOrder,
    CancelOrders,
    CreateUser,
    Deposit,
    ErrorReply,
    GetBalances,
    GetOrder,
    GetTotals,
    ListOrders,
    OrderReply,
    OrdersReply,
    PlaceOrder,
    TotalsReply,
    UserCreated,
)
from actors.engine.messages import Place
from actors.engine.protocol import DepthQuery, DepthReply, EngineOutbound, EngineRequest
from harness.cluster import Cluster
from transport.framing import pack_rid

BTC = 100_000_000
USDT = 1_000_000


class Trader:
    def __init__(self, cluster: Cluster, shard: int, name: str) -> None:
        self.client = cluster.shard_client(shard)
        key_hash = hashlib.sha256(name.encode()).digest()
        created = self.client.call(CreateUser(key_hash), AccountsReply)
        assert isinstance(created, UserCreated)
        self.auth = Auth(created.user_id, key_hash)
        self.shard = shard

    def call(self, request_type: Any, **fields: Any) -> Any:
        return self.client.call(request_type(auth=self.auth, **fields), AccountsReply)

    def balances(self) -> dict[str, tuple[int, int]]:
        reply = self.call(GetBalances)
        assert isinstance(reply, BalancesReply)
        return {b.asset: (b.free, b.locked) for b in reply.balances}


def totals(cluster: Cluster) -> list[TotalsReply]:
    replies = []
    for shard in range(len(cluster.config.shards)):
        client = cluster.shard_client(shard)
        reply = client.call(GetTotals(Auth(shard << 40 | 1, b"", admin=True)), AccountsReply)
        client.close()
        assert isinstance(reply, TotalsReply), reply
        replies.append(reply)
    return replies


def settled_totals(cluster: Cluster, timeout_s: float = 20.0) -> list[TotalsReply]:
    """Totals once every shard has settled every trade (what left one shard arrived in
    another): shards settle asynchronously, so poll the real condition."""
    deadline = time.monotonic() + timeout_s
    while True:
        replies = totals(cluster)
        flows: dict[str, int] = {}
        for reply in replies:
            for asset in reply.assets:
                flows[asset.asset] = flows.get(asset.asset, 0) + asset.traded_in - asset.traded_out
        if all(value == 0 for value in flows.values()) or time.monotonic() > deadline:
            return replies


def assert_conserved(replies: list[TotalsReply]) -> None:
    for index, asset in enumerate(replies[0].assets):
        rows = [reply.assets[index] for reply in replies]
        held = sum(r.free + r.locked + r.fees for r in rows)
        assert held == sum(r.deposits - r.withdrawals for r in rows), asset.asset
        assert sum(r.traded_in for r in rows) == sum(r.traded_out for r in rows), asset.asset
        assert all(r.free >= 0 and r.locked >= 0 for r in rows)


def test_users_on_two_shards_trade_and_both_sides_settle(actors: Cluster) -> None:
    alice, bob = Trader(actors, 0, "alice"), Trader(actors, 1, "bob")
    alice.call(Deposit, asset="USDT", amount=100_000 * USDT)
    bob.call(Deposit, asset="BTC", amount=2 * BTC)

    bid = alice.call(
        PlaceOrder, market="BTC-USDT", side="buy", type="limit", price=30_000 * USDT, qty=BTC // 2
    )
    assert isinstance(bid, OrderReply) and bid.order.status == "new"
    # 15,000 notional + 30 worst-case fee (the higher of maker 0.1% and taker 0.2%)
    assert alice.balances()["USDT"] == (85_000 * USDT - 30 * USDT, 15_030 * USDT)

    ask = bob.call(
        PlaceOrder, market="BTC-USDT", side="sell", type="limit", price=29_000 * USDT, qty=BTC
    )
    assert isinstance(ask, OrderReply)
    assert ask.order.status == "partially_filled"
    assert [(f.price, f.qty, f.liquidity) for f in ask.order.fills] == [
        (30_000 * USDT, BTC // 2, "taker")
    ]
    assert ask.order.fills[0].fee == 30 * USDT  # taker 0.2% of 15,000

    replies = settled_totals(actors)
    assert_conserved(replies)
    # alice paid 15,000 + 15 maker fee; the worst-case fee left over is released.
    assert alice.balances()["USDT"] == (100_000 * USDT - 15_015 * USDT, 0)
    assert alice.balances()["BTC"] == (BTC // 2, 0)
    assert bob.balances()["USDT"] == (15_000 * USDT - 30 * USDT, 0)
    assert bob.balances()["BTC"] == (BTC, BTC // 2)
    fees = [(reply.shard, a.asset, a.fees) for reply in replies for a in reply.assets if a.fees]
    assert fees == [(0, "USDT", 15 * USDT), (1, "USDT", 30 * USDT)]

    cancelled = bob.call(CancelOrder, order_id=ask.order.order_id)
    assert isinstance(cancelled, OrderReply) and cancelled.order.status == "cancelled"
    assert bob.balances()["BTC"] == (3 * BTC // 2, 0)


def test_a_fill_at_a_better_price_releases_what_it_saved(actors: Cluster) -> None:
    maker, taker = Trader(actors, 1, "maker"), Trader(actors, 0, "taker")
    maker.call(Deposit, asset="ETH", amount=10 * BTC)
    taker.call(Deposit, asset="USDT", amount=10_000 * USDT)
    maker.call(
        PlaceOrder, market="ETH-USDT", side="sell", type="limit", price=2_000 * USDT, qty=BTC
    )
    order = taker.call(
        PlaceOrder, market="ETH-USDT", side="buy", type="limit", price=2_500 * USDT, qty=BTC
    )
    assert isinstance(order, OrderReply) and order.order.status == "filled"
    # paid 2,000 + 4 taker fee; the 500 price improvement and unused fee are released
    assert taker.balances()["USDT"] == (10_000 * USDT - 2_004 * USDT, 0)
    assert taker.balances()["ETH"] == (BTC, 0)


def test_a_random_workload_keeps_every_invariant(actors: Cluster) -> None:
    rng = random.Random(7)
    traders = [Trader(actors, index % 2, f"user{index}") for index in range(8)]
    for trader in traders:
        trader.call(Deposit, asset="USDT", amount=1_000_000 * USDT)
        trader.call(Deposit, asset="BTC", amount=20 * BTC)
        trader.call(Deposit, asset="ETH", amount=200 * BTC)
    placed: list[tuple[Trader, int]] = []
    for _ in range(2500):
        trader = rng.choice(traders)
        market = rng.choice(["BTC-USDT", "ETH-USDT"])
        mid, lot = (30_000, 10_000) if market == "BTC-USDT" else (2_000, 100_000)
        roll = rng.random()
        if roll < 0.65:
            reply = trader.call(
                PlaceOrder,
                market=market,
                side=rng.choice(["buy", "sell"]),
                type="limit",
                price=(mid + rng.randint(-10, 10)) * USDT,
                qty=rng.randint(1, 50) * lot,
                time_in_force=rng.choice(["GTC", "GTC", "GTC", "IOC", "FOK"]),
                stp=rng.choice(["expire_taker", "expire_maker", "expire_both"]),
            )
            if isinstance(reply, OrderReply):
                placed.append((trader, reply.order.order_id))
        elif roll < 0.9 and placed:
            owner, order_id = rng.choice(placed)
            reply = trader.call(CancelOrder, order_id=order_id)
            if owner is not trader:
                assert isinstance(reply, ErrorReply) and reply.code == "ORDER_NOT_FOUND"
        else:
            trader.call(CancelOrders, market=rng.choice([None, market]))
    replies = settled_totals(actors)
    assert_conserved(replies)
    # every open order the shards believe in rests in its book, with the same totals
    believed: dict[tuple[str, str, int], int] = {}
    for trader in traders:
        reply = trader.call(ListOrders, open_only=True, limit=1000)
        assert isinstance(reply, OrdersReply)
        for order in reply.orders:
            key = (order.market, order.side, order.price)
            believed[key] = believed.get(key, 0) + order.qty - order.filled_qty
        locked = {
            a: sum(
                o.qty - o.filled_qty
                for o in reply.orders
                if o.side == "sell" and o.market.startswith(a)
            )
            for a in ("BTC", "ETH")
        }
        balances = trader.balances()
        for asset in ("BTC", "ETH"):
            assert balances[asset][1] == locked[asset]
        if not any(o.side == "buy" for o in reply.orders):
            assert balances["USDT"][1] == 0
    books: dict[tuple[str, str, int], int] = {}
    for market in actors.config.engines:
        client = actors.engine_client(market)
        depth = client.call(DepthQuery(0), EngineOutbound)
        client.close()
        assert isinstance(depth, DepthReply)
        assert not depth.bids or not depth.asks or depth.bids[0][0] < depth.asks[0][0]
        for side, levels in (("buy", depth.bids), ("sell", depth.asks)):
            for price, total in levels:
                books[(market, side, price)] = total
    assert books == believed


def test_bad_frames_get_clear_errors_and_the_actors_keep_serving(actors: Cluster) -> None:
    shard = actors.shard_client(0)
    reply = shard.raw([pack_rid(1), b"\xc1 not msgpack"])
    error = msgspec.msgpack.decode(reply[1], type=AccountsReply)
    assert isinstance(error, ErrorReply) and error.status == 400 and error.code == "BAD_REQUEST"
    unknown = msgspec.msgpack.encode({"t": "launch_rocket", "auth": [1, b""]})
    error = msgspec.msgpack.decode(shard.raw([pack_rid(2), unknown])[1], type=AccountsReply)
    assert isinstance(error, ErrorReply) and "launch_rocket" in error.message
    alice, mallory = Trader(actors, 0, "alice"), Trader(actors, 0, "mallory")
    alice.call(Deposit, asset="USDT", amount=1_000 * USDT)
    order = alice.call(
        PlaceOrder, market="BTC-USDT", side="buy", type="limit", price=10_000 * USDT, qty=10_000
    )
    assert isinstance(order, OrderReply)
    for request_type in (CancelOrder, GetOrder):
        error = mallory.call(request_type, order_id=order.order.order_id)
        assert isinstance(error, ErrorReply) and error.code == "ORDER_NOT_FOUND"
    forged = Trader.__new__(Trader)
    forged.client, forged.auth = actors.shard_client(0), Auth(alice.auth.user_id, b"x" * 32)
    error = forged.call(GetBalances)
    assert isinstance(error, ErrorReply) and error.status == 401

    engine = actors.engine_client("BTC-USDT")
    error = msgspec.msgpack.decode(engine.raw([pack_rid(3), b"\x00\xff"])[1], type=EngineOutbound)
    assert error.code == "BAD_REQUEST"
    place = EngineRequest(0, 1, Place(99, alice.auth.user_id, "buy", "limit", 10_000, 10_000))
    error = engine.call(place, EngineOutbound)
    assert error.code == "FORBIDDEN"  # only a shard's own identity may move money
    assert isinstance(engine.call(DepthQuery(5), EngineOutbound), DepthReply)
    assert isinstance(alice.call(GetBalances), BalancesReply)
