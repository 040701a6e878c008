"""A feed relay put together: upstreams, per-market data, WebSocket, query ROUTER.

A config places one relay (``[feed]``) or several (``[[feed.relays]]``); each is this
process, with its own key, store and connections, and none knows of the others.

Invariants:
- One asyncio loop owns every piece of state; nothing is shared with another thread.
- Start-up order: the store is loaded, the SUB sockets subscribe, and only then are
  snapshots and missed trades requested (the Clone pattern: subscribe first, then
  fetch); the ROUTER, which serves history, is bound once every market caught up with
  its trades (or after ``CATCH_UP_WAIT_S`` for an engine that does not answer, which
  catches up later), and the WebSocket opened.
- Every relay derives the same data from the same engine streams: depth sequence numbers
  and checksums are the engine's, and each relay's store holds every trade (fetched when
  missed) and the klines those trades make, so any relay answers history queries alike.
- Relays of one host may share the WebSocket port (SO_REUSEPORT, only when the config
  says so): the kernel spreads new connections over the relays listening, and a relay
  that dies takes only its own connections with it.
- ``run`` returns after ``stop`` is set, having closed every WebSocket connection
  (1001 going away), committed the store and closed every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq.asyncio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from bourse.config import Config, FeedRelay, data_dir
from bourse.fdlimit import connections_allowed
from bourse.gcpolicy import settle_after_startup
from bourse.peers import FEED, FEED_ROUTER
from feed import metrics
from feed.auth import Authenticator
from feed.hub import Hub
from feed.keys import KeyWatch
from feed.markets import MarketData
from feed.protocol import FeedStatus
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
CATCH_UP_WAIT_S = 5.0
RATE_WINDOW_S = 5  # messages per second: over this many one-second samples


def store_file(relay: FeedRelay) -> str:
    """The relay's SQLite file in the data folder (``feed.sqlite`` for the one relay)."""
    return "feed.sqlite" if relay.name == FEED else f"{relay.name}.sqlite"


class RateMeter:
    """Messages per second over the last ``RATE_WINDOW_S`` one-second samples."""

    def __init__(self, count: Callable[[], int]) -> None:
        self._count = count
        self._samples: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW_S + 1)

    def sample(self, now: float) -> None:
        self._samples.append((now, self._count()))

    def per_second(self) -> int:
        if len(self._samples) < 2:
            return 0
        (first, before), (last, after) = self._samples[0], self._samples[-1]
        return round((after - before) / (last - first)) if last > first else 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.sample(loop.time())
            await asyncio.sleep(1.0)


class FeedServer:
    def __init__(self, config: Config, relay: FeedRelay) -> None:
        self.config = config
        self.relay = relay
        self.context = zmq.asyncio.Context()
        self.store = FeedStore(data_dir() / store_file(relay))
        self.security = bus_security(config, relay.name, [FEED_ROUTER])
        self.private = PrivateUpstream(self.context, config, self.security)
        self.hub = Hub(self.private.on_first, self.private.on_last)
        conflate_s = config.raw.feed.conflate_ms / 1000
        self.markets: dict[str, MarketData] = {}
        for name, market in config.markets.items():
            self.markets[name] = MarketData(
                market, self.hub, self.store, conflate_s, self._want_snapshot, self._want_trades
            )
        self.book = BookUpstream(self.context, config, self.markets, self.store, self.security)
        self.authenticator = Authenticator(self.context, config, self.security)
        self.rate = RateMeter(lambda: self.hub.sent)
        feed = config.raw.feed
        self.websocket = FeedWebSocket(
            self.hub,
            self.markets,
            self.authenticator,
            feed,
            config.raw.auth_failures,
            connections_allowed(feed.max_connections, "feed.max_connections"),
            self.rate.per_second,
        )
        self.security.metrics.register_in(self.websocket.registry)
        self.keys = KeyWatch(self.websocket.key_revoked, self.websocket.recheck)
        self.private.on_keys = self.keys.on_event

    def _want_snapshot(self, market: str) -> None:
        self.book.want_snapshot(market)

    def _want_trades(self, market: str) -> None:
        self.book.want_trades(market)

    def status(self) -> FeedStatus:
        markets = self.markets.values()
        return FeedStatus(
            subscribers=self.hub.open_sessions,
            markets={m.name: m.seq for m in markets},
            relay=self.relay.name,
            messages_per_s=self.rate.per_second(),
            slow_closed=self.hub.slow_closed,
            stale=[m.name for m in markets if m.stale],
            trades_lost=sum(m.trade_sync.lost for m in markets),
        )

    async def _catch_up_first(self) -> None:
        """Wait (a while) for every market's missed trades before serving history."""
        waits = [asyncio.create_task(event.wait()) for event in self.book.caught_up.values()]
        _, pending = await asyncio.wait(waits, timeout=CATCH_UP_WAIT_S)
        for task in pending:
            task.cancel()
        behind = [name for name, event in self.book.caught_up.items() if not event.is_set()]
        if behind:
            log.warning(
                "serving history before every market caught up",
                extra={"fields": {"markets": behind}},
            )

    async def run(self, stop: asyncio.Event) -> None:
        for market in self.markets.values():
            market.restore()
        self.security.start(self.context)
        self.authenticator.start()
        tasks = [
            asyncio.create_task(follow_keys(self.security), name="keys"),
            asyncio.create_task(self.book.run(), name="book"),
            asyncio.create_task(self.book.audit(), name="audit"),
            asyncio.create_task(self.book.watch(), name="watch"),
            asyncio.create_task(self.private.run(self.hub.publish), name="private"),
            asyncio.create_task(self.rate.run(), name="rate"),
        ]
        queries: QueryServer | None = None
        try:
            for market in self.markets.values():
                market.start()
            await self._catch_up_first()
            queries = QueryServer(
                self.context,
                self.relay.router.binds,
                self.markets,
                self.store,
                self.status,
                self.security,
            )
            self.security.listening()
            tasks.append(asyncio.create_task(queries.run(), name="queries"))
            settle_after_startup()
            async with contextlib.AsyncExitStack() as servers:
                websocket: Server = await servers.enter_async_context(self._serve_websocket())
                if self.relay.metrics is not None:
                    await servers.enter_async_context(self._serve_metrics())
                ws = self.relay.ws
                log.info(
                    "feed ready",
                    extra={
                        "fields": {
                            "relay": self.relay.name,
                            "ws": f"ws://{ws.address}:{ws.port}/ws",
                            "shared_port": self.relay.shared_ws,
                        }
                    },
                )
                await self._until_stopped(stop, tasks)
                websocket.close()
                await websocket.wait_closed()
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
            if queries is not None:
                queries.close()
            self.security.stop()
            self.store.close()
            self.context.destroy(linger=0)

    def _serve_websocket(self) -> Server:
        ws = self.relay.ws
        return serve(
            self.websocket.handler,
            ws.address,
            ws.port,
            process_request=self.websocket.process_request,
            compression=None,
            max_size=self.websocket.max_frame_bytes,
            max_queue=MAX_QUEUE,
            create_connection=self.websocket.connection_class(),
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
            close_timeout=CLOSE_TIMEOUT_S,
            reuse_port=self.relay.shared_ws,
        )

    def _serve_metrics(self) -> Server:
        """This relay's own /metrics (on a shared WebSocket port, /metrics is whichever
        relay the kernel picks)."""
        endpoint = self.relay.metrics
        assert endpoint is not None
        registry = self.websocket.registry

        def answer(conn: ServerConnection, request: Request) -> Response:
            return metrics.respond(conn, request, registry)

        return serve(_never, endpoint.address, endpoint.port, process_request=answer)

    async def _until_stopped(self, stop: asyncio.Event, tasks: list[asyncio.Task[Any]]) -> None:
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        for task in done:
            if task is not stopping and task.exception() is not None:
                log.error(
                    "feed task failed",
                    exc_info=task.exception(),
                    extra={"fields": {"task": task.get_name()}},
                )
                raise RuntimeError(f"feed task {task.get_name()} failed")


async def _never(conn: ServerConnection) -> None:
    """The metrics port upgrades nothing: ``process_request`` answers every request."""
