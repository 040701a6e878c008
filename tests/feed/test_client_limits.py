"""Hostile WebSocket clients against a real feed: deep or large messages are answered
with an error, connections are capped per address, ``auth`` is limited per address and
repeated failures block it; the feed's memory stays bounded and ``/metrics`` counts it all.

Clients come from several loopback addresses (127.0.0.2, 127.0.0.3, ...): the feed sees
each as a client address of its own.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from feedkit import Trader, eventually, feed_cluster, open_ws, ws_from
from gateway_kit import closed_by_peer, dial, refused, rss_mb
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosedError

RSS_GROWTH_MB = 25.0


def metrics_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/metrics"


async def ask(ws: ClientConnection, message: dict[str, Any] | str) -> dict[str, Any]:
    await ws.send(message if isinstance(message, str) else json.dumps(message))
    reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


async def test_deep_and_large_messages_get_an_error_not_a_close(tmp_path: Path) -> None:
    with feed_cluster(tmp_path) as c:
        port, pid = c.config.feed_ws.port, c.processes["feed"].pid
        before = rss_mb(pid)
        ws = await open_ws(port)
        deep = '{"op":"subscribe","channel":' + "[" * 2000 + "]" * 2000 + "}"
        for _ in range(200):
            reply = await ask(ws, deep)
            assert reply["op"] == "error" and "nests deeper than 32" in reply["message"], reply
        reply = await ask(ws, {"op": "ping", "pad": "x" * 5000})
        assert reply["op"] == "error" and "too large" in reply["message"], reply
        assert await ask(ws, {"op": "ping"}) == {"op": "pong"}
        # A frame past four times the limit is not read whole: the library closes 1009.
        await ws.send("x" * 20_000)
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        counted = refused(metrics_url(port))
        assert counted["max_message_depth"] >= 200 and counted["max_message_bytes"] >= 1
        assert rss_mb(pid) - before < RSS_GROWTH_MB


async def test_connections_are_capped_per_address_and_in_all(tmp_path: Path) -> None:
    caps = {
        "max_connections = 10000\nmax_connections_per_address = 10000": (
            "max_connections = 50\nmax_connections_per_address = 20"
        )
    }
    with feed_cluster(tmp_path, replace=caps) as c:
        port = c.config.feed_ws.port
        flood = [dial(port, "127.0.0.2") for _ in range(30)]
        await eventually(
            lambda: sum(closed_by_peer(sock) for sock in flood) >= 10,
            10.0,
            "the connections past the address's 20 are closed",
        )
        normal = await ws_from(port, "127.0.0.3")
        assert await ask(normal, {"op": "ping"}) == {"op": "pong"}

        # Two more addresses fill the 50: the last ones, and a new address, are turned away.
        more = [dial(port, f"127.0.0.{4 + i // 20}") for i in range(40)]
        await eventually(
            lambda: sum(closed_by_peer(sock) for sock in more) >= 11,
            10.0,
            "the connections past 50 in all are closed",
        )
        late = dial(port, "127.0.0.6")
        await eventually(lambda: closed_by_peer(late), 10.0, "a connection past 50 is closed")
        assert await ask(normal, {"op": "ping"}) == {"op": "pong"}
        for sock in [*flood, *more, late]:
            sock.close()

        async def served() -> bool:
            try:
                ws = await ws_from(port, "127.0.0.6")
            except OSError:
                return False
            await ws.close()
            return True

        deadline = time.monotonic() + 10.0
        while not await served():
            assert time.monotonic() < deadline, "a new address is never served again"
            await asyncio.sleep(0.05)  # the poll's pace
        counted = refused(metrics_url(port))
        assert counted["max_connections_per_address"] >= 10
        assert counted["max_connections"] >= 12
        await normal.close()


DELAY_MS, BLOCK_MS, AUTH_BURST = 300, 3000, 5


async def test_auth_is_limited_per_address_and_failures_block_it(tmp_path: Path) -> None:
    limits = {
        "auth_per_s = 100000\nauth_burst = 100000": f"auth_per_s = 0.01\nauth_burst = {AUTH_BURST}",
        "slow_after = 1000000\nblock_after = 1000000": (
            f"slow_after = 2\nblock_after = 4\ndelay_ms = {DELAY_MS}\nblock_ms = {BLOCK_MS}\n"
            "forget_ms = 600000"
        ),
    }
    with feed_cluster(tmp_path, replace=limits) as c:
        port = c.config.feed_ws.port
        trader = Trader(c, users_per_shard=1)
        key = trader.accounts[0].api_key
        user_id = key.partition(".")[0]
        try:
            guesser = await ws_from(port, "127.0.0.2")
            took = []
            for attempt in range(4):
                started = time.monotonic()
                reply = await ask(guesser, {"op": "auth", "api_key": f"{user_id}.guess{attempt}"})
                took.append(time.monotonic() - started)
                assert reply["op"] == "error" and reply["message"] == "invalid api key", reply
            assert all(t < DELAY_MS / 1000 for t in took[:2]), took
            assert all(t >= DELAY_MS / 1000 for t in took[2:]), took
            # Blocked: the right key is refused unexamined; pings are still answered.
            reply = await ask(guesser, {"op": "auth", "api_key": key})
            assert "too many failed authentications" in reply["message"], reply
            assert await ask(guesser, {"op": "ping"}) == {"op": "pong"}

            # Another address: a key with a zero-padded id is no alias; the key is served,
            # up to the address's budget of attempts.
            other = await ws_from(port, "127.0.0.3")
            reply = await ask(other, {"op": "auth", "api_key": "0" + key})
            assert reply["op"] == "error" and "invalid api key" in reply["message"], reply
            for _ in range(AUTH_BURST - 1):
                reply = await ask(other, {"op": "auth", "api_key": key})
                assert reply == {"op": "authenticated", "user_id": user_id}, reply
            reply = await ask(other, {"op": "auth", "api_key": key})
            assert "too many auth attempts" in reply["message"], reply

            # The block ends.
            deadline = time.monotonic() + BLOCK_MS / 1000 + 10.0
            while (await ask(guesser, {"op": "auth", "api_key": key}))["op"] != "authenticated":
                assert time.monotonic() < deadline, "the block never ends"
                await asyncio.sleep(0.05)  # the poll's pace
            counted = refused(metrics_url(port))
            assert counted["auth_failed"] >= 5
            assert counted["auth_blocked"] >= 1 and counted["rate_limited_auth"] >= 1
            await guesser.close()
            await other.close()
        finally:
            await trader.close()
