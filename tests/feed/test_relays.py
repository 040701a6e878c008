"""Two feed relays under ``bourse run --host``, sharing one WebSocket port: clients on
either see the same depth sequence numbers and checksums; ``kill -9`` one relay and its
clients reconnect (to the other, as the kernel now sends them there) and converge to the
engine's book; both relays keep the same history."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from feedkit import FeedClient, Trader, converge, subscribed_client
from prometheus_client.parser import text_string_to_metric_families
from supervisedkit import Supervised, supervised

from bourse.config import FeedRelay
from bourse.peers import GATEWAY
from feed.protocol import (
    FeedReply,
    FeedStatus,
    FeedStatusQuery,
    KlinesQuery,
    TradesQuery,
)
from harness.cluster import Cluster

MARKETS = ("BTC-USDT", "ETH-USDT")
CLIENTS = 12


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Supervised, Cluster]]:
    with supervised(tmp_path, relays=2) as s:
        # The harness's view of the same exchange: its clients speak as any process.
        c = Cluster(s.config_path, s.data, s.config)
        try:
            yield s, c
        finally:
            c.stop_all()


def ask_relay(c: Cluster, relay: FeedRelay, query: object) -> Any:
    client = c.client(relay.name, relay.router.connect, GATEWAY)
    try:
        return client.call(query, FeedReply, 3.0)
    finally:
        client.close()


async def subscribers(c: Cluster) -> list[int]:
    statuses = [
        await asyncio.to_thread(ask_relay, c, relay, FeedStatusQuery())
        for relay in c.config.feed_relays
    ]
    assert all(isinstance(status, FeedStatus) for status in statuses), statuses
    return [status.subscribers for status in statuses]


def depth_marks(client: FeedClient, market: str) -> dict[int, int]:
    """seq -> checksum of every depth message the client got."""
    return {m["seq"]: m["checksum"] for m in client.of("depth", market)}


def same_books_where_they_meet(clients: list[FeedClient]) -> None:
    for market in MARKETS:
        marks = [depth_marks(client, market) for client in clients]
        for one in marks:
            for other in marks:
                shared = one.keys() & other.keys()
                assert shared, "every client reaches the engine's last seq"
                assert all(one[seq] == other[seq] for seq in shared), market


def metric(relay: FeedRelay, name: str) -> float:
    assert relay.metrics is not None
    url = f"http://{relay.metrics.address}:{relay.metrics.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not in {url}")


async def test_two_relays_serve_the_same_books_and_one_killed_loses_only_its_clients(
    running: tuple[Supervised, Cluster],
) -> None:
    s, c = running
    relays = c.config.feed_relays
    assert [r.name for r in relays] == ["feed-1", "feed-2"]
    assert all(r.shared_ws and r.ws.port == relays[0].ws.port for r in relays)
    await asyncio.to_thread(s.wait_healthy)
    port = relays[0].ws.port
    clients = [await subscribed_client(port) for _ in range(CLIENTS)]
    while True:  # the kernel spreads connections over both: until each relay has some
        counts = await subscribers(c)
        if sum(counts) == len(clients) and all(counts):
            break
        if sum(counts) == len(clients):
            clients.append(await subscribed_client(port))
    for relay, count in zip(relays, counts, strict=True):
        assert metric(relay, "bourse_feed_connections") == count
    trader = Trader(c, seed=17)
    try:
        await trader.run(200, concurrency=4)
        for client in clients:
            await converge(c, client, MARKETS)
        same_books_where_they_meet(clients)
        code, table = await asyncio.to_thread(s.status)
        assert code == 0, table
        for relay, count in zip(relays, counts, strict=True):
            assert f"{relay.name} " in table and f"{count} subscribers" in table, table

        # kill -9 feed-1: only its own clients lose their connection.
        on_first = counts[0]
        s.kill("feed-1")
        await asyncio.wait_for(
            _until(lambda: sum(client.closed for client in clients) == on_first), 20
        )
        load = asyncio.create_task(trader.run(100, concurrency=2))
        survivors = [client for client in clients if not client.closed]
        reconnected = [await subscribed_client(port) for _ in range(on_first)]
        await load
        await trader.run(20, concurrency=2)
        for client in survivors + reconnected:
            await converge(c, client, MARKETS)
        for client in survivors:
            assert client.depth[MARKETS[0]].snapshots == 1, "never resynced: its relay lived"
        same_books_where_they_meet(survivors + reconnected)

        # Both relays hold the same history (feed-1 once its supervisor restarted it).
        await asyncio.to_thread(s.wait_healthy)
        for market in MARKETS:
            histories = [
                await asyncio.to_thread(ask_relay, c, relay, TradesQuery(market, limit=1000))
                for relay in relays
            ]
            klines = [
                await asyncio.to_thread(ask_relay, c, relay, KlinesQuery(market, "1m"))
                for relay in relays
            ]
            assert histories[0] == histories[1] and histories[0].trades
            assert klines[0] == klines[1] and klines[0].klines
        assert len(s.pids("feed-1")) == 2 and len(s.pids("feed-2")) == 1
        for client in survivors + reconnected:
            await client.close()
    finally:
        await trader.close()


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.02)  # the poll's pace
