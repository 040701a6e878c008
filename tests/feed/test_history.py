"""No trade missing from history: a feed that was down, or that lost messages on the bus,
fetches what it missed from the engine, so trades, klines and tickers hold every trade,
and every candle is what its trades say."""

from __future__ import annotations

import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from busproxy import lossy_bus
from feedkit import Trader, feed_query, start_feed, wait_feed
from gateway_kit import Api, exchange, wait_until

from actors.engine.protocol import BookMessage, MarketEvents, PublicTrade
from feed.protocol import KlinesQuery, KlinesReply, TradesQuery, TradesReply
from harness.cluster import Cluster, cluster
from transport.pubsub import parse_published

MARKET = "BTC-USDT"
INTERVALS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000}


class Trading:
    """A seller and a buyer crossing one lot at a time at prices that move, through the
    gateway; every trade id the two users were answered with is kept."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.seller = api.new_user(BTC="10")
        self.buyer = api.new_user(USDT="10000000")
        self.trade_ids: set[str] = set()
        self.count = 0

    def trade(self) -> None:
        self.count += 1
        price = f"{30000 + (self.count * 37) % 500}.{self.count % 100:02d}"
        order = {"type": "limit", "price": price, "qty": "0.0001"}
        sell = self.api.place(self.seller, side="sell", **order)
        buy = self.api.place(self.buyer, side="buy", **order)
        assert sell.status_code == 201 and buy.status_code == 201, (sell.text, buy.text)
        assert buy.json()["status"] == "filled", buy.text
        self.trade_ids |= {fill["trade_id"] for fill in buy.json()["fills"]}

    def trades(self, count: int) -> None:
        for _ in range(count):
            self.trade()


def candles_of(trades: list[dict[str, Any]], interval_ms: int) -> list[dict[str, Any]]:
    """The candles the trades make: per bucket, by trade id order."""
    buckets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for trade in sorted(trades, key=lambda t: int(t["trade_id"])):
        buckets[trade["time"] // interval_ms * interval_ms].append(trade)
    candles = []
    for start, inside in sorted(buckets.items()):
        prices = [Decimal(t["price"]) for t in inside]
        candles.append(
            {
                "time": start,
                "open": prices[0],
                "high": max(prices),
                "low": min(prices),
                "close": prices[-1],
                "volume": sum(Decimal(t["qty"]) for t in inside),
            }
        )
    return candles


def as_numbers(klines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {key: value if key == "time" else Decimal(value) for key, value in kline.items()}
        for kline in klines
    ]


def history_is_whole(api: Api, trading: Trading) -> None:
    """Every trade the users were answered with is in the history, and every candle of
    every interval (and the ticker) is what those trades say."""
    query = {"market": MARKET, "limit": 1000}
    wait_until(
        lambda: api.get("/api/v1/trades", params=query).status_code == 200,
        what="the gateway reaches the feed again",
    )
    answer = api.get("/api/v1/trades", params=query)
    trades = answer.json()
    assert {t["trade_id"] for t in trades} == trading.trade_ids
    assert len(trades) == len(trading.trade_ids), "each trade once"
    for interval, interval_ms in INTERVALS.items():
        params = {"market": MARKET, "interval": interval, "limit": 1000}
        klines = api.get("/api/v1/klines", params=params).json()
        assert as_numbers(klines) == candles_of(trades, interval_ms), interval
    (ticker,) = api.get("/api/v1/tickers", params={"market": MARKET}).json()
    newest = max(trades, key=lambda t: int(t["trade_id"]))
    assert ticker["last"] == newest["price"]
    assert Decimal(ticker["volume"]) == sum(Decimal(t["qty"]) for t in trades)


def wait_for_the_next_minute() -> None:
    """Until the wall clock (the engines') enters a new minute: the feed, down meanwhile,
    must then put missed trades into a bucket that its clock already closed."""
    minute = time.time() // 60
    while time.time() // 60 == minute:
        time.sleep(0.05)  # waiting on the wall clock itself


def test_a_feed_killed_while_trades_go_on_has_every_trade_after_it_starts(
    tmp_path: Path,
) -> None:
    with exchange(tmp_path, feed=True) as (c, api):
        wait_feed(c)
        trading = Trading(api)
        trading.trades(15)
        c.kill("feed")
        trading.trades(20)  # none of these reach the feed
        wait_for_the_next_minute()
        trading.trades(10)  # and these fall in a new minute
        start_feed(c)
        history_is_whole(api, trading)
        assert "trades caught up" in c.read_log("feed")
        # Once more with a clean stop, and trades while the feed starts.
        trading.trades(5)
        assert c.stop("feed") == 0
        trading.trades(5)
        c.start("feed", "feed")
        trading.trades(5)
        wait_feed(c)
        history_is_whole(api, trading)


def trade_ids_in(frames: list[bytes]) -> set[int]:
    parsed = parse_published(frames)
    if parsed is None or not parsed[0].startswith(b"book."):
        return set()
    message = msgspec.msgpack.decode(parsed[2], type=BookMessage)
    if not isinstance(message, MarketEvents):
        return set()
    return {e.trade_id for e in message.events if isinstance(e, PublicTrade)}


class Losing:
    """Loses every message carrying one of the chosen trades (BTC-USDT's trade ids)."""

    def __init__(self, trade_ids: set[int]) -> None:
        self.trade_ids = trade_ids
        self.lost_trades: set[int] = set()

    def __call__(self, frames: list[bytes]) -> bool:
        if frames[0] != f"book.{MARKET}".encode():
            return False
        carried = trade_ids_in(frames)
        if carried & self.trade_ids:
            self.lost_trades |= carried
            return True
        return False


def all_feed_trades(c: Cluster) -> list[int]:
    reply = feed_query(c, TradesQuery(MARKET, limit=1000))
    assert isinstance(reply, TradesReply)
    return [t.trade_id for t in reply.trades]


async def test_trades_lost_on_the_bus_are_fetched_even_the_last_before_a_quiet_spell(
    tmp_path: Path,
) -> None:
    with cluster(tmp_path) as c:
        losing = Losing({3, 10, 11, 25, 40})
        with lossy_bus(c, losing) as (proxy, via):
            c.start_actors()
            start_feed(via)
            trader = Trader(c, seed=5)
            try:
                await trader.cross(MARKET, 40, concurrency=1)  # trades 1..40, 40 the last
            finally:
                await trader.close()
            assert losing.lost_trades >= {3, 10, 11, 25, 40}
            # Trade 40 left no gap behind it: the engine's next heartbeat tells the feed.
            deadline = time.monotonic() + 20
            while sorted(all_feed_trades(c)) != list(range(1, 41)):
                assert time.monotonic() < deadline, all_feed_trades(c)
                time.sleep(0.05)  # polling the feed's history
            assert sorted(all_feed_trades(c), reverse=True) == all_feed_trades(c)
            klines = feed_query(c, KlinesQuery(MARKET, "1d"))
            assert isinstance(klines, KlinesReply)
            assert sum(k.volume for k in klines.klines) == 40 * Trader.LOT[MARKET]
            assert proxy.lost >= 4
