"""A subscriber that stops reading is closed with 1008 "slow consumer"; others keep pace."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from feedkit import FeedClient, Trader, converge, feed_cluster, wait_status
from websockets.asyncio.client import connect
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
