"""The feed process put together: upstreams, per-market data, WebSocket, query ROUTER.

Invariants:
- One asyncio loop owns every piece of state; nothing is shared with another thread.
- Start-up order: the store is loaded, the SUB sockets subscribe, and only then are
  snapshots requested (the Clone pattern: subscribe first, then fetch), the ROUTER bound
  and the WebSocket opened.
- ``run`` returns after ``stop`` is set, having closed every WebSocket connection
  (1001 going away), committed the store and closed every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import zmq.asyncio
from websockets.asyncio.server import serve

from bourse.config import Config, data_dir
from bourse.fdlimit import connections_allowed
from bourse.gcpolicy import settle_after_startup
from bourse.peers import FEED, FEED_ROUTER
from feed.auth import Authenticator
from feed.hub import Hub
from feed.keys import KeyWatch
from feed.markets import MarketData
from feed.queries import QueryServer
from feed.store import FeedStore
from feed.upstream import BookUpstream, PrivateUpstream
from feed.ws import MAX_QUEUE, FeedWebSocket
from transport.client import follow_keys
from transport.security import bus_security

log = logging.getLogger("feed")

PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 20.0
CLOSE_TIMEOUT_S = 5.0
STORE_FILE = "feed.sqlite"


class FeedServer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.context = zmq.asyncio.Context()
        self.store = FeedStore(data_dir() / STORE_FILE)
        self.security = bus_security(config, FEED, [FEED_ROUTER])
        self.private = PrivateUpstream(self.context, config, self.security)
        self.hub = Hub(self.private.on_first, self.private.on_last)
        conflate_s = config.raw.feed.conflate_ms / 1000
        self.markets: dict[str, MarketData] = {}
        for name, market in config.markets.items():
            self.markets[name] = MarketData(
                market, self.hub, self.store, conflate_s, self._want_snapshot
            )
        self.book = BookUpstream(self.context, config, self.markets, self.store, self.security)
        self.authenticator = Authenticator(self.context, config, self.security)
        feed = config.raw.feed
        self.websocket = FeedWebSocket(
            self.hub,
            self.markets,
            self.authenticator,
            feed,
            config.raw.auth_failures,
            connections_allowed(feed.max_connections, "feed.max_connections"),
        )
        self.security.metrics.register_in(self.websocket.registry)
        self.keys = KeyWatch(self.websocket.key_revoked, self.websocket.recheck)
        self.private.on_keys = self.keys.on_event

    def _want_snapshot(self, market: str) -> None:
        self.book.want_snapshot(market)

    async def run(self, stop: asyncio.Event) -> None:
        for market in self.markets.values():
            market.restore()
        self.security.start(self.context)
        queries = QueryServer(
            self.context,
            self.config.feed_router.binds,
            self.markets,
            self.store,
            lambda: self.hub.open_sessions,
            self.security,
        )
        self.security.listening()
        tasks = [
            asyncio.create_task(follow_keys(self.security), name="keys"),
            asyncio.create_task(self.book.run(), name="book"),
            asyncio.create_task(self.book.audit(), name="audit"),
            asyncio.create_task(self.private.run(self.hub.publish), name="private"),
            asyncio.create_task(queries.run(), name="queries"),
        ]
        for market in self.markets.values():
            market.start()
        settle_after_startup()
        endpoint = self.config.feed_ws
        try:
            async with serve(
                self.websocket.handler,
                endpoint.address,
                endpoint.port,
                process_request=self.websocket.process_request,
                compression=None,
                max_size=self.websocket.max_frame_bytes,
                max_queue=MAX_QUEUE,
                create_connection=self.websocket.connection_class(),
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_TIMEOUT_S,
                close_timeout=CLOSE_TIMEOUT_S,
            ) as server:
                log.info(
                    "feed ready",
                    extra={"fields": {"ws": f"ws://{endpoint.address}:{endpoint.port}/ws"}},
                )
                stopping = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait(
                    [stopping, *tasks], return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    if task is not stopping and task.exception() is not None:
                        log.error(
                            "feed task failed",
                            exc_info=task.exception(),
                            extra={"fields": {"task": task.get_name()}},
                        )
                        raise RuntimeError(f"feed task {task.get_name()} failed")
                stopping.cancel()
                server.close()
                await server.wait_closed()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for market in self.markets.values():
                market.stop()
            await self.book.close()
            await self.authenticator.close()
            self.private.close()
            queries.close()
            self.security.stop()
            self.store.close()
            self.context.destroy(linger=0)
