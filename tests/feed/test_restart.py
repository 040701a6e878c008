"""kill -9 the feed under load: clients reconnect and converge, history survives."""

from __future__ import annotations

import asyncio
from pathlib import Path

from feedkit import (
    Trader,
    converge,
    feed_cluster,
    feed_query,
    start_feed,
    subscribed_client,
)

from feed.protocol import KlinesQuery, KlinesReply, TradesQuery, TradesReply

MARKETS = ("BTC-USDT", "ETH-USDT")


async def test_a_killed_feed_comes_back_with_its_history(tmp_path: Path) -> None:
    with feed_cluster(tmp_path) as c:
        port = c.config.feed_ws.port
        clients = [await subscribed_client(port) for _ in range(3)]
        trader = Trader(c, seed=21)
        try:
            stop = asyncio.Event()
            load = asyncio.create_task(trader.run_until(stop, concurrency=2))
            await clients[0].wait(lambda: len(clients[0].of("trades")) >= 20, what="trades")
            c.kill("feed")  # SIGKILL, with orders still flowing
            for client in clients:
                await client.wait(lambda client=client: client.closed, what="close")
            seen = {
                market: {int(m["trade_id"]) for cl in clients for m in cl.of("trades", market)}
                for market in MARKETS
            }
            await asyncio.to_thread(start_feed, c)  # the load keeps going meanwhile
            clients = [await subscribed_client(port) for _ in range(3)]
            for client in clients:
                await client.wait(lambda client=client: client.of("trades"), what="new trades")
            stop.set()
            assert await load > 0
            for client in clients:
                await converge(c, client, MARKETS)
            for market in MARKETS:
                trades = feed_query(c, TradesQuery(market, limit=1000))
                assert isinstance(trades, TradesReply)
                assert len(trades.trades) < 1000, "the checks below need every trade"
                kept = {t.trade_id for t in trades.trades}
                # Every trade a client saw before the crash was on disk before it was sent.
                assert seen[market] <= kept
                klines = feed_query(c, KlinesQuery(market, "1m", limit=1000))
                assert isinstance(klines, KlinesReply)
                # Klines and trades were written in the same transactions: they agree.
                assert sum(k.volume for k in klines.klines) == sum(t.qty for t in trades.trades)
            # SIGTERM: a clean stop, every client told the server is going away.
            assert await asyncio.to_thread(c.stop, "feed") == 0
            for client in clients:
                await client.wait(lambda client=client: client.closed, what="close")
                assert client.close_code == 1001
        finally:
            await trader.close()
