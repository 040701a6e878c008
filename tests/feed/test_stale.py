"""A market whose engine falls silent is announced stale to its subscribers, and live again
(followed by a fresh depth snapshot) when its data returns; the trading screen shows it.

The engine's PUB goes silent for real: its process is stopped (SIGSTOP) and continued
(SIGCONT); the other market's engine goes on as before.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from feedkit import (
    FeedClient,
    converge,
    feed_cluster,
    feed_query,
    subscribed_client,
    wait_feed,
)
from gateway_kit import exchange
from playwright.sync_api import expect, sync_playwright
from screen_kit import CHROMIUM, CHROMIUM_ARGS

from feed.protocol import FeedStatus, FeedStatusQuery
from harness.cluster import Cluster

STOPPED = "BTC-USDT"
RUNNING = "ETH-USDT"


def status(market: str, state: str) -> dict[str, str]:
    return {"channel": "status", "market": market, "status": state}


@contextmanager
def stopped(c: Cluster, market: str) -> Iterator[None]:
    """The market's engine process stopped (its sockets silent) until the block ends."""
    pid = c.processes[f"engine-{market}"].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def index_of(client: FeedClient, message: dict[str, Any]) -> int:
    return client.messages.index(message)


async def test_subscribers_hear_a_market_go_stale_and_come_back_with_a_snapshot(
    tmp_path: Path,
) -> None:
    with feed_cluster(tmp_path) as c:
        port = c.config.feed_ws.port
        both = await subscribed_client(port)  # depth and trades of both markets
        other = await FeedClient.open(port)
        await other.subscribe("ticker", RUNNING)
        with stopped(c, STOPPED):
            await both.wait(lambda: status(STOPPED, "stale") in both.messages, what="stale")
            # Once, though it holds two channels of the market; the other market is live.
            assert both.messages.count(status(STOPPED, "stale")) == 1
            assert status(RUNNING, "stale") not in both.messages
            # A subscription while stale is told so right after its ack.
            late = await FeedClient.open(port)
            await late.subscribe("depth", STOPPED)
            await late.wait(lambda: status(STOPPED, "stale") in late.messages, what="told")
            ack = next(m for m in late.messages if m.get("op") == "subscribed")
            assert index_of(late, status(STOPPED, "stale")) == index_of(late, ack) + 1
            reply = feed_query(c, FeedStatusQuery())
            assert isinstance(reply, FeedStatus) and reply.stale == [STOPPED]
        await both.wait(lambda: status(STOPPED, "live") in both.messages, what="live")
        live = index_of(both, status(STOPPED, "live"))
        await both.wait(
            lambda: any(
                m.get("channel") == "depth" and m["market"] == STOPPED and m["type"] == "snapshot"
                for m in both.messages[live:]
            ),
            what="a fresh snapshot after live",
        )
        await converge(c, both, (STOPPED, RUNNING))
        assert all(m.get("channel") != "status" for m in other.messages), "not its market"
        reply = feed_query(c, FeedStatusQuery())
        assert isinstance(reply, FeedStatus) and reply.stale == []
        assert "market stale" in c.read_log("feed")
        for client in (both, other, late):
            await client.close()


def test_the_trading_screen_says_stale_while_the_market_is(tmp_path: Path) -> None:
    with exchange(tmp_path, feed=True) as (c, api), sync_playwright() as playwright:
        wait_feed(c)
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(base_url=api.base_url)
            page.goto(f"/#{STOPPED}")
            conn = page.get_by_test_id("conn-status")
            expect(conn).to_have_attribute("data-state", "connected", timeout=20_000)
            expect(conn).to_contain_text("Live")
            with stopped(c, STOPPED):
                expect(conn).to_have_attribute("data-state", "stale", timeout=10_000)
                expect(conn).to_contain_text("Stale")
                # Another market, live, shows live; back to this one, stale again.
                page.goto(f"/#{RUNNING}")
                expect(conn).to_have_attribute("data-state", "connected")
                page.goto(f"/#{STOPPED}")
                expect(conn).to_have_attribute("data-state", "stale")
            expect(conn).to_have_attribute("data-state", "connected", timeout=10_000)
            expect(conn).to_contain_text("Live")
        finally:
            browser.close()
