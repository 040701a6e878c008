"""Gaps: lost frames and a restarted engine make the feed resync; clients get snapshots."""

from __future__ import annotations

from pathlib import Path

from busproxy import lose_book_frames, lossy_bus
from feedkit import Trader, converge, feed_cluster, start_feed, subscribed_client

from harness.cluster import cluster

MARKETS = ("BTC-USDT", "ETH-USDT")


async def test_lost_frames_resync_the_feed_and_resend_snapshots(tmp_path: Path) -> None:
    with cluster(tmp_path) as c, lossy_bus(c, lose_book_frames({3, 30, 60})) as (proxy, via):
        c.start_actors()
        start_feed(via)
        client = await subscribed_client(c.config.feed_ws.port, trades=False)
        trader = Trader(c, seed=3)
        try:
            await trader.run(300)
            # Past the last drop, the market goes on with updates on a fresh snapshot.
            updates = {m: client.depth[m].updates for m in MARKETS}
            await trader.run(40)
            await converge(c, client, MARKETS)
            for market in MARKETS:
                model = client.depth[market]
                # Each dropped frame forced a fresh snapshot; every chain in between held.
                assert model.snapshots >= 1 + 3, (market, model.snapshots)
                assert model.updates > updates[market]
            assert proxy.lost == 3 * len(MARKETS)
            assert "frame gap" in c.read_log("feed")
            await client.close()
        finally:
            await trader.close()


async def test_a_restarted_engine_is_followed(tmp_path: Path) -> None:
    with feed_cluster(tmp_path) as c:
        client = await subscribed_client(c.config.feed_ws.port, ("BTC-USDT",), trades=False)
        trader = Trader(c, seed=5)
        try:
            await trader.run(60, markets=("BTC-USDT",))
            await converge(c, client, ("BTC-USDT",))
            before = client.depth["BTC-USDT"].snapshots
            c.kill("engine-BTC-USDT")
            c.start_engine("BTC-USDT")  # its PUB counts frames from 1 again
            await trader.run(60, markets=("BTC-USDT",))
            await converge(c, client, ("BTC-USDT",))
            assert client.depth["BTC-USDT"].snapshots > before
            await client.close()
        finally:
            await trader.close()
