"""A subscriber that stops reading is closed with 1008 "slow consumer"; others keep pace."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from feedkit import FeedClient, Trader, converge, feed_cluster, wait_status
from gateway_kit import open_fds, rss_mb
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError

MARKET = "BTC-USDT"
CHANNELS = [
    {"channel": "depth"},
    {"channel": "trades"},
    {"channel": "ticker"},
    *({"channel": "kline", "interval": i} for i in ("1m", "5m", "15m", "1h", "4h", "1d")),
]


async def test_a_client_that_never_reads_is_dropped(tmp_path: Path) -> None:
    with feed_cluster(tmp_path, "send_queue = 16") as c:
        port = c.config.feed_ws.port
        fast = await FeedClient.open(port)
        # The slow one: a tiny receive buffer, and a client library that stops reading
        # the socket after one unread message.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        slow = await connect(f"ws://127.0.0.1:{port}/ws", sock=sock, max_queue=1)
        for channel in CHANNELS:
            await fast.subscribe(market=MARKET, **channel)
            await slow.send(_subscribe(channel))
        await fast.wait(lambda: MARKET in fast.depth, what="snapshot")
        await wait_status(c, lambda s: s.subscribers == 2)
        trader = Trader(c, seed=9)
        try:
            await trader.cross(MARKET, 600)
            await wait_status(c, lambda s: s.subscribers == 1)
            with pytest.raises(ConnectionClosedError) as closed:
                async for _ in slow:
                    pass
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008
            assert closed.value.rcvd.reason == "slow consumer"
            # The one that reads kept everything, in order.
            await converge(c, fast, (MARKET,))
            ids = [int(m["trade_id"]) for m in fast.of("trades", MARKET)]
            assert ids and ids == list(range(1, ids[-1] + 1))
            assert not fast.closed
            await fast.close()
        finally:
            await trader.close()


def _subscribe(channel: dict[str, str]) -> str:
    import json

    return json.dumps({"op": "subscribe", "market": MARKET, **channel})


async def test_a_dropped_consumer_reads_its_close_frame_when_it_reads_again(
    tmp_path: Path,
) -> None:
    """The close frame waits behind what the client left unread, for as long as
    ``slow_close_timeout_ms``: a client back after the library's own close timeout still
    gets 1008; one that never reads is aborted then, and its memory goes with it."""
    with feed_cluster(tmp_path, "send_queue = 16", "slow_close_timeout_ms = 9000") as c:
        port, pid = c.config.feed_ws.port, c.processes["feed"].pid
        fds_before, rss_before = open_fds(pid), rss_mb(pid)
        stalled = [await _stalled_subscriber(port) for _ in range(21)]
        await wait_status(c, lambda s: s.subscribers == len(stalled))
        trader = Trader(c, seed=9)
        try:
            await trader.cross(MARKET, 600)
            await wait_status(c, lambda s: s.subscribers == 0)
            dropped = time.monotonic()
            assert rss_mb(pid) - rss_before < 25.0
            # The client's own behaviour: it reads again only after 6 s, more than the
            # 5 s the WebSocket library waits for a closing handshake by itself.
            await asyncio.sleep(6.0)
            returning = stalled[0]
            with pytest.raises(ConnectionClosedError) as closed:
                async for _ in returning:
                    pass
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008
            assert closed.value.rcvd.reason == "slow consumer"
            # The others never read: the feed lets them go at the timeout.
            deadline = dropped + 9.0 + 10.0
            while open_fds(pid) > fds_before + 2:
                assert time.monotonic() < deadline, (open_fds(pid), fds_before)
                await asyncio.sleep(0.1)  # the poll's pace
        finally:
            await trader.close()
            for ws in stalled:
                ws.transport.abort()


async def _stalled_subscriber(port: int) -> ClientConnection:
    """A subscriber to every BTC-USDT channel whose client stops reading after one
    unread message (a tiny receive buffer, a queue of one)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    ws = await connect(f"ws://127.0.0.1:{port}/ws", sock=sock, max_queue=1)
    for channel in CHANNELS:
        await ws.send(_subscribe(channel))
    return ws
