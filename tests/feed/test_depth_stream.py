"""Real engines, shards and feed: WebSocket clients rebuild exactly the engines' books."""

from __future__ import annotations

import asyncio
from pathlib import Path

from feedkit import Trader, converge, feed_cluster, feed_query, subscribed_client

from feed.protocol import FeedStatusQuery, TradesQuery, TradesReply

MARKETS = ("BTC-USDT", "ETH-USDT")


async def test_clients_rebuild_the_engine_books_after_a_random_workload(tmp_path: Path) -> None:
    with feed_cluster(tmp_path) as c:
        port = c.config.feed_ws.port
        clients = [await subscribed_client(port) for _ in range(3)]
        trader = Trader(c, seed=11)
        try:
            await trader.run(250)
            late = await subscribed_client(port)  # joins with the market moving
            await asyncio.gather(trader.run(250), subscribed_client(port, trades=False))
            await trader.run(100)
            everyone = [*clients, late]
            for client in everyone:
                await converge(c, client, MARKETS)
                assert client.error is None
            for market in MARKETS:
                reply = feed_query(c, TradesQuery(market, limit=1000))
                assert isinstance(reply, TradesReply)
                newest = reply.trades[0].trade_id if reply.trades else 0
                assert newest > 0, "the workload should trade"
                for client in clients:
                    await client.wait(
                        lambda client=client, market=market, newest=newest: any(
                            m["trade_id"] == str(newest) for m in client.of("trades", market)
                        ),
                        what=f"trade {newest}",
                    )
                    ids = [int(m["trade_id"]) for m in client.of("trades", market)]
                    assert ids == list(range(1, newest + 1))
                assert [t.trade_id for t in reply.trades] == list(range(newest, 0, -1))
                assert sum(client.depth[market].updates for client in clients) > 10
            status = feed_query(c, FeedStatusQuery())
            assert status.subscribers == 5  # type: ignore[union-attr]
            for client in everyone:
                await client.close()
        finally:
            await trader.close()
