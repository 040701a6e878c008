"""Private channels, ticker and kline pushes, errors, and the query ROUTER, on one cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from feedkit import FeedClient, Trader, feed_cluster, feed_query, is_push, open_ws
from websockets.exceptions import InvalidStatus

from actors.accounts.protocol import GetOrder, OrderReply
from api.wire import order_out
from feed.protocol import (
    FeedError,
    FeedStatus,
    FeedStatusQuery,
    KlinesQuery,
    KlinesReply,
    TickersQuery,
    TickersReply,
    TradesQuery,
    TradesReply,
)
from harness.cluster import Cluster

MARKET = "ETH-USDT"


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder: Path = tmp_path_factory.mktemp("channels")
    with feed_cluster(folder) as running:
        yield running


def without_channel(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "channel"}


async def test_private_channels_push_the_rest_shapes(c: Cluster) -> None:
    trader = Trader(c, seed=1)
    maker, taker = trader.accounts[0], trader.accounts[-1]
    client = await FeedClient.open(c.config.feed_ws.port)
    other = await FeedClient.open(c.config.feed_ws.port)
    try:
        await client.send({"op": "subscribe", "channel": "orders"})
        denied = await client.next_matching(lambda m: m.get("op") == "error", what="error")
        assert "auth" in denied["message"] and denied["channel"] == "orders"
        await client.send({"op": "auth", "api_key": maker.api_key[:-1] + "x"})
        wrong = await client.next_matching(
            lambda m: m.get("op") == "error" and "api key" in m["message"], what="bad key"
        )
        assert wrong["message"] == "invalid api key"
        await client.send({"op": "auth", "api_key": maker.api_key})
        await client.next_matching(lambda m: m.get("op") == "authenticated", what="auth")
        for channel in ("orders", "fills", "balances"):
            await client.send({"op": "subscribe", "channel": channel})
        await client.wait(
            lambda: sum(m.get("op") == "subscribed" for m in client.messages) == 3, what="acks"
        )
        # Another user's connection sees only its own events.
        await other.send({"op": "auth", "api_key": taker.api_key})
        await other.send({"op": "subscribe", "channel": "orders"})
        await other.next_matching(lambda m: m.get("op") == "subscribed", what="ack")

        placed = await trader.place(maker, MARKET, "sell", Trader.MID[MARKET], 5)
        assert isinstance(placed, OrderReply)
        order_id = str(placed.order.order_id)
        await trader.place(taker, MARKET, "buy", Trader.MID[MARKET], 2)

        filled = await client.next_matching(
            lambda m: is_push(m, "orders") and m["status"] == "partially_filled",
            what="partially filled order",
        )
        assert filled["order_id"] == order_id and filled["filled_qty"] == "0.002"
        fill = await client.next_matching(lambda m: is_push(m, "fills"), what="fill")
        assert fill["order_id"] == order_id and fill["liquidity"] == "maker"
        assert fill["market"] == MARKET and fill["qty"] == "0.002"
        await client.wait(
            lambda: {m["asset"] for m in client.of("balances")} >= {"ETH", "USDT"},
            what="ETH and USDT balances",
        )
        # The pushed order is exactly what REST renders for it.
        reply = await trader.call(maker, GetOrder(maker.auth, order_id=int(order_id)))
        assert isinstance(reply, OrderReply)
        rest = msgspec.to_builtins(order_out(reply.order, c.config.markets[MARKET]))
        assert without_channel(filled) == rest
        await other.next_matching(
            lambda m: is_push(m, "orders") and m["status"] == "filled", what="taker"
        )
        assert all(m["order_id"] != order_id for m in other.of("orders"))
        assert all(m["order_id"] == order_id for m in client.of("orders"))
    finally:
        await client.close()
        await other.close()
        await trader.close()


async def test_trades_ticker_and_kline_pushes(c: Cluster) -> None:
    trader = Trader(c, seed=2)
    maker, taker = trader.accounts[0], trader.accounts[-1]
    client = await FeedClient.open(c.config.feed_ws.port)
    try:
        await client.subscribe("trades", MARKET)
        await client.subscribe("ticker", MARKET)
        await client.subscribe("kline", MARKET, interval="1m")
        # On subscribe: the ticker at once (and the open kline, when there is one).
        await client.next_matching(lambda m: is_push(m, "ticker"), what="ticker")
        for ticks in range(5):
            await trader.place(maker, MARKET, "sell", Trader.MID[MARKET] + ticks * Trader.TICK, 1)
        start = len(client.messages)
        # One taker sweeps every level: its trades come in one engine message.
        sweep = await trader.place(
            taker, MARKET, "buy", Trader.MID[MARKET] + 4 * Trader.TICK, 100, time_in_force="IOC"
        )
        assert isinstance(sweep, OrderReply)
        count = len(sweep.order.fills)
        assert count >= 5

        def after(channel: str) -> list[dict[str, Any]]:
            return [m for m in client.messages[start:] if is_push(m, channel)]

        await client.wait(lambda: len(after("trades")) == count, what="the sweep's trades")
        trade = after("trades")[0]
        assert set(trade) == {"channel", "market", "trade_id", "price", "qty", "taker_side", "time"}
        assert trade["market"] == MARKET and trade["taker_side"] == "buy"
        assert [int(t["trade_id"]) for t in after("trades")] == [
            fill.trade_id for fill in sweep.order.fills
        ]
        # Every trade updates the open 1m kline.
        await client.wait(
            lambda: sum(not k["closed"] for k in after("kline")) == count, what="klines"
        )
        kline = [k for k in after("kline") if not k["closed"]][-1]
        fields = "channel market interval time open high low close volume closed"
        assert set(kline) == set(fields.split())
        assert kline["interval"] == "1m" and kline["time"] % 60_000 == 0
        assert kline["close"] == after("trades")[-1]["price"]
        # A burst of trades in one batch gives one ticker, with all of them in it.
        ticker = await client.next_matching(lambda m: is_push(m, "ticker"), start, what="ticker")
        fields = "channel market last open high low volume quote_volume change"
        assert set(ticker) == set(fields.split())
        assert ticker["last"] == after("trades")[-1]["price"]
        assert len(after("ticker")) == 1
    finally:
        await client.close()
        await trader.close()


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("not json", "invalid JSON"),
        ('{"op": "dance"}', "unknown op"),
        ('{"op": "subscribe", "channel": "news", "market": "ETH-USDT"}', "unknown channel"),
        ('{"op": "subscribe", "channel": "depth", "market": "XRP-USDT"}', "unknown market"),
        ('{"op": "subscribe", "channel": "depth"}', "needs a market"),
        ('{"op": "subscribe", "channel": "kline", "market": "ETH-USDT"}', "needs an interval"),
        (
            '{"op": "subscribe", "channel": "kline", "market": "ETH-USDT", "interval": "7m"}',
            "unknown interval",
        ),
        ('{"op": "subscribe", "channel": "fills"}', "needs auth"),
        ('{"op": "auth", "api_key": "nonsense"}', "invalid api key"),
        ('{"op": "auth", "api_key": "99.secret"}', "invalid api key"),
        ('{"op": "unsubscribe"}', "needs a channel"),
    ],
)
async def test_bad_input_is_answered_and_the_connection_stays_open(
    c: Cluster, message: str, words: str
) -> None:
    client = await FeedClient.open(c.config.feed_ws.port)
    try:
        await client.send(message)
        error = await client.next_matching(lambda m: m.get("op") == "error", what="error")
        assert words in error["message"]
        await client.send({"op": "ping"})
        await client.next_matching(lambda m: m.get("op") == "pong", what="pong")
        assert not client.closed
    finally:
        await client.close()


async def test_subscribe_and_unsubscribe_are_acked(c: Cluster) -> None:
    client = await FeedClient.open(c.config.feed_ws.port)
    try:
        await client.subscribe("kline", MARKET, interval="5m")
        ack = await client.next_matching(lambda m: m.get("op") == "subscribed", what="ack")
        assert ack == {"op": "subscribed", "channel": "kline", "market": MARKET, "interval": "5m"}
        await client.send(
            {"op": "unsubscribe", "channel": "kline", "market": MARKET, "interval": "5m"}
        )
        ack = await client.next_matching(lambda m: m.get("op") == "unsubscribed", what="ack")
        assert ack == {"op": "unsubscribed", "channel": "kline", "market": MARKET, "interval": "5m"}
    finally:
        await client.close()


async def test_only_the_ws_path_upgrades(c: Cluster) -> None:
    from websockets.asyncio.client import connect

    with pytest.raises(InvalidStatus) as refused:
        await connect(f"ws://127.0.0.1:{c.config.feed_ws.port}/other")
    assert refused.value.response.status_code == 404
    ws = await open_ws(c.config.feed_ws.port)
    await ws.close()


async def test_queries(c: Cluster) -> None:
    trader = Trader(c, seed=4)
    try:
        await trader.cross("BTC-USDT", 3, concurrency=1)
    finally:
        await trader.close()
    trades = feed_query(c, TradesQuery("BTC-USDT"))
    assert isinstance(trades, TradesReply) and len(trades.trades) >= 3
    ids = [t.trade_id for t in trades.trades]
    assert ids == sorted(ids, reverse=True)
    one = feed_query(c, TradesQuery("BTC-USDT", limit=1))
    assert isinstance(one, TradesReply) and one.trades == trades.trades[:1]
    for bad in (TradesQuery("BTC-USDT", limit=1001), TradesQuery("BTC-USDT", limit=0)):
        error = feed_query(c, bad)
        assert isinstance(error, FeedError) and error.code == "INVALID_FIELD"
    error = feed_query(c, TradesQuery("DOGE-USDT"))
    assert isinstance(error, FeedError) and error.code == "UNKNOWN_MARKET"

    klines = feed_query(c, KlinesQuery("BTC-USDT", "1m"))
    assert isinstance(klines, KlinesReply) and klines.klines
    newest = klines.klines[-1]
    assert sum(k.volume for k in klines.klines) == sum(t.qty for t in trades.trades)
    after = feed_query(c, KlinesQuery("BTC-USDT", "1m", start=newest.time + 1))
    assert isinstance(after, KlinesReply) and after.klines == []
    upto = feed_query(c, KlinesQuery("BTC-USDT", "1d", end=newest.time, limit=1))
    assert isinstance(upto, KlinesReply) and len(upto.klines) == 1
    error = feed_query(c, KlinesQuery("BTC-USDT", "1m", start=10, end=5))
    assert isinstance(error, FeedError) and error.code == "INVALID_FIELD"
    error = feed_query(c, KlinesQuery("BTC-USDT", "1m", limit=1001))
    assert isinstance(error, FeedError) and error.code == "INVALID_FIELD"

    tickers = feed_query(c, TickersQuery())
    assert isinstance(tickers, TickersReply)
    assert [t.market for t in tickers.tickers] == ["BTC-USDT", "ETH-USDT"]
    btc = feed_query(c, TickersQuery("BTC-USDT"))
    assert isinstance(btc, TickersReply) and btc.tickers[0].last == trades.trades[0].price
    status = feed_query(c, FeedStatusQuery())
    assert isinstance(status, FeedStatus) and status.markets["BTC-USDT"] > 0
