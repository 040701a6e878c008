"""The feed's ZeroMQ inputs: every engine's book stream, with snapshots, and the shards'
private events.

Invariants:
- Engine messages are read in batches (whatever is ready, up to ``BATCH_MAX``); each
  batch is handed to its markets in arrival order, committed to the store, and only then
  are its trades pushed.
- A frame-seq gap on ``book.<market>`` (a drop, or a restarted engine counting from 1)
  is reported to the market as not contiguous, which resyncs it from a snapshot.
- A snapshot (``DepthQuery(limit=0)`` to the engine's ROUTER) is fetched by one task per
  market at a time, retried with a growing pause while the engine does not answer.
- An audit asks every engine for its sequence number every ``AUDIT_S``: a market whose
  engine went backwards, or stayed ahead of the feed for a whole audit period, is resynced.
  So a message lost while the market then stays quiet is still repaired (a heartbeat,
  which carries the engine's sequence number, usually tells sooner).
- The trades a market missed (at start, or past a gap) are fetched by one task per market
  at a time (``TradesQuery`` after the market's cursor, then again while the answer is
  incomplete or a gap remains), retried with a growing pause while the engine does not
  answer; each answer is committed to the store before its trades are pushed.
- Every message on ``book.<market>`` counts as the engine being heard; ``watch`` makes a
  market stale once it was not heard for ``market_data.stale_after_ms``.
- The private SUB holds a user's three topics while some connection is authenticated as
  that user (from ``auth`` on, so the subscription has reached the shards by the time the
  client subscribes to a channel), and forwards a message only when its topic names
  exactly such a user (ZeroMQ subscriptions are prefixes: ``orders.1`` also matches
  ``orders.12``).
- A private event leaves as the tagged Struct of ``feed/wire.py`` for its channel,
  encoded once to JSON; the hub hands those bytes to every connection of the user.
- The private SUB also holds every shard's ``keys.<shard>`` topic, whose messages (key
  revocations and their count) go to ``on_keys`` (feed/keys.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import msgspec
import zmq
import zmq.asyncio

from actors.accounts.protocol import (
    BalanceEvent,
    FillEvent,
    KeyRevoked,
    KeysHeard,
    OrderEvent,
    PrivateEvent,
)
from actors.accounts.shard import keys_topic
from actors.engine.protocol import (
    BookMessage,
    DepthQuery,
    DepthReply,
    EngineOutbound,
    EngineStatus,
    ErrorReply,
    Heartbeat,
    StatusQuery,
    TradesQuery,
    TradesSince,
    book_topic,
)
from bourse.config import Config
from feed.hub import USER_KEY, Key
from feed.markets import MarketData
from feed.ops import PRIVATE_CHANNELS
from feed.store import FeedStore
from feed.wire import PrivatePush, balance_push, fill_push, order_push
from transport.client import DealerClient, RequestError
from transport.framing import MAX_REPLY_MESSAGE, recv_frames_nowait
from transport.liveness import keep_alive
from transport.pubsub import PUB_HWM, GapDetector, parse_published
from transport.security import BusSecurity

log = logging.getLogger("feed")

BATCH_MAX = 512
AUDIT_S = 2.0
WATCH_S = 0.1  # how often staleness is looked at
TRADES_PER_QUERY = 1000
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
SLOW_COMMIT_S = 0.05

_encoder = msgspec.msgpack.Encoder()
_json = msgspec.json.Encoder()


def _sub_socket(context: zmq.asyncio.Context) -> zmq.asyncio.Socket:
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, PUB_HWM)
    socket.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_MESSAGE)
    keep_alive(socket)
    return socket


class BookUpstream:
    def __init__(
        self,
        context: zmq.asyncio.Context,
        config: Config,
        markets: dict[str, MarketData],
        store: FeedStore,
        security: BusSecurity,
    ) -> None:
        self._markets = markets
        self._store = store
        self._timeout_s = config.exchange.request_timeout_ms / 1000
        self._sub = _sub_socket(context)
        self._topics: dict[bytes, MarketData] = {}
        for name, engine in config.engines.items():
            topic = book_topic(name)
            self._topics[topic] = markets[name]
            self._sub.setsockopt(zmq.SUBSCRIBE, topic)
            for endpoint, process in engine.pubs:  # only the leader publishes
                security.connect(self._sub, endpoint, process)
        self._engines = {
            name: DealerClient(context, engine.routers, engine.name, self._timeout_s, security)
            for name, engine in config.engines.items()
        }
        self._gaps = GapDetector()
        self._decode = msgspec.msgpack.Decoder(BookMessage).decode
        self._replies = msgspec.msgpack.Decoder(EngineOutbound).decode
        self._fetches: dict[str, asyncio.Task[None]] = {}
        self._catch_ups: dict[str, asyncio.Task[None]] = {}
        self._stale_after_s = config.raw.market_data.stale_after_ms / 1000
        self.caught_up = {name: asyncio.Event() for name in markets}

    # --- the book stream ---------------------------------------------------------------

    async def run(self) -> None:
        for client in self._engines.values():
            client.start()  # from now on each logs its peer coming and going
        sock = self._sub
        shadow: zmq.Socket[bytes] = zmq.Socket.shadow(sock.underlying)
        while True:
            batch = [await sock.recv_multipart()]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(recv_frames_nowait(shadow))
                except zmq.Again:
                    break
            touched: dict[str, MarketData] = {}
            now = asyncio.get_running_loop().time()
            for frames in batch:
                self._on_frames(frames, touched, now)
            started = time.monotonic()
            self._store.commit()
            spent = time.monotonic() - started
            if spent > SLOW_COMMIT_S:
                log.warning(
                    "slow store commit",
                    extra={"fields": {"ms": round(spent * 1000), "messages": len(batch)}},
                )
            for market in touched.values():
                market.publish_batch()

    def _on_frames(self, frames: list[bytes], touched: dict[str, MarketData], now: float) -> None:
        parsed = parse_published(frames)
        if parsed is None:
            return
        topic, seq, body = parsed
        market = self._topics.get(topic)
        if market is None:
            return
        market.heard(now)
        contiguous = self._gaps.accept(topic, seq)
        try:
            message = self._decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            log.error("engine message does not decode", extra={"fields": {"error": str(error)}})
            market.force_resync()
            return
        if not contiguous:
            log.warning("frame gap", extra={"fields": {"market": market.name, "seq": seq}})
        if isinstance(message, Heartbeat):
            # Its sequence number tells whether events were lost: a frame gap alone (a
            # lost heartbeat, a restarted engine numbering frames from 1) loses nothing.
            market.on_heartbeat(message)
        else:
            market.ingest(message.events, contiguous)
        touched[market.name] = market

    # --- snapshots -------------------------------------------------------------------------

    def want_snapshot(self, market: str) -> None:
        task = self._fetches.get(market)
        if task is None or task.done():
            self._fetches[market] = asyncio.get_running_loop().create_task(self._fetch(market))

    async def _fetch(self, name: str) -> None:
        market = self._markets[name]
        pause = RETRY_FIRST_S
        while True:
            reply = await self._ask(name, DepthQuery(limit=0))
            if isinstance(reply, DepthReply):
                market.on_snapshot(reply)
                log.info(
                    "book synced",
                    extra={"fields": {"market": name, "seq": reply.seq, "live": market.sync.live}},
                )
                if market.sync.live or not market.sync.fetching:
                    return
            else:
                # ``sync.fetching`` stays set: nobody else starts a fetch while this retries.
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_S)

    # --- missed trades ------------------------------------------------------------------------

    def want_trades(self, market: str) -> None:
        task = self._catch_ups.get(market)
        if task is None or task.done():
            self._catch_ups[market] = asyncio.get_running_loop().create_task(self._catch_up(market))

    async def _catch_up(self, name: str) -> None:
        market = self._markets[name]
        pause = RETRY_FIRST_S
        recovered = 0
        while market.catching_up:
            after = market.trade_sync.through
            reply = await self._ask(name, TradesQuery(after, TRADES_PER_QUERY))
            if isinstance(reply, TradesSince):
                if reply.horizon > after:
                    log.warning(
                        "the engine no longer holds every trade the feed missed",
                        extra={
                            "fields": {"market": name, "after": after, "horizon": reply.horizon}
                        },
                    )
                recovered += len(reply.trades)
                market.on_trades(reply)
                self._store.commit()
                market.publish_batch()
                pause = RETRY_FIRST_S
                continue
            if isinstance(reply, ErrorReply):
                log.error(
                    "the engine refused the trades query",
                    extra={"fields": {"market": name, "code": reply.code, "error": reply.message}},
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)
        log.info(
            "trades caught up",
            extra={
                "fields": {
                    "market": name,
                    "through": market.trade_sync.through,
                    "fetched": recovered,
                }
            },
        )
        self.caught_up[name].set()

    async def watch(self) -> None:
        """Make a market stale once its engine was not heard for ``stale_after_ms``."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_S)
            now = loop.time()
            for market in self._markets.values():
                market.check_stale(now, self._stale_after_s)

    async def _ask(self, name: str, query: DepthQuery | StatusQuery | TradesQuery) -> object:
        try:
            body = await self._engines[name].request(_encoder.encode(query), self._timeout_s)
            return self._replies(body)
        except (RequestError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    async def audit(self) -> None:
        ahead: dict[str, int] = {}
        while True:
            await asyncio.sleep(AUDIT_S)
            for name, market in self._markets.items():
                if not market.sync.live:
                    continue
                # Taken before asking: the engine cannot be behind what the feed already had
                # then, while events published after the question may arrive before the answer.
                seq = market.seq
                status = await self._ask(name, StatusQuery())
                if not isinstance(status, EngineStatus) or not market.sync.live:
                    continue
                behind = ahead.pop(name, None)
                if status.seq < seq or (behind is not None and seq < behind):
                    log.warning(
                        "audit resync",
                        extra={"fields": {"market": name, "engine": status.seq, "feed": seq}},
                    )
                    market.force_resync()
                elif status.seq > seq:
                    ahead[name] = status.seq

    async def close(self) -> None:
        for task in [*self._fetches.values(), *self._catch_ups.values()]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for client in self._engines.values():
            await client.close()
        self._sub.close(linger=0)


class PrivateUpstream:
    """Users' order, fill and balance events from the shards, pushed as REST shapes."""

    def __init__(self, context: zmq.asyncio.Context, config: Config, security: BusSecurity) -> None:
        self._config = config
        self._sub = _sub_socket(context)
        for shard in config.shards:
            for endpoint, process in shard.pubs:
                security.connect(self._sub, endpoint, process)
        self._decode = msgspec.msgpack.Decoder(PrivateEvent).decode
        self._users: set[str] = set()
        self._keys_topics = {keys_topic(shard.shard) for shard in config.shards}
        for topic in self._keys_topics:
            self._sub.setsockopt(zmq.SUBSCRIBE, topic)
        self.on_keys: Callable[[KeyRevoked | KeysHeard], None] = _ignore

    def on_first(self, key: Key) -> None:
        if key[0] == USER_KEY:
            self._users.add(key[1])
            for kind in PRIVATE_CHANNELS:
                self._sub.setsockopt(zmq.SUBSCRIBE, f"{kind}.{key[1]}".encode())

    def on_last(self, key: Key) -> None:
        if key[0] == USER_KEY:
            self._users.discard(key[1])
            for kind in PRIVATE_CHANNELS:
                self._sub.setsockopt(zmq.UNSUBSCRIBE, f"{kind}.{key[1]}".encode())

    async def run(self, publish: Callable[[Key, bytes], int]) -> None:
        while True:
            parsed = parse_published(await self._sub.recv_multipart())
            if parsed is None:
                continue
            topic, _, body = parsed
            if topic in self._keys_topics:
                self._on_keys(body)
                continue
            kind, _, user = topic.decode(errors="replace").partition(".")
            if user not in self._users or kind not in PRIVATE_CHANNELS:
                continue
            try:
                event = self._decode(body)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                log.error("shard event does not decode", extra={"fields": {"error": str(error)}})
                continue
            push = self.render(event)
            if push is not None:
                publish((kind, user), _json.encode(push))

    def _on_keys(self, body: bytes) -> None:
        try:
            event = self._decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            log.error("shard event does not decode", extra={"fields": {"error": str(error)}})
            return
        if isinstance(event, KeyRevoked | KeysHeard):
            self.on_keys(event)

    def render(self, event: PrivateEvent) -> PrivatePush | None:
        """The push for ``event``; None for a market or asset this config does not know."""
        config = self._config
        match event:
            case OrderEvent(order=order):
                market = config.markets.get(order.market)
                return None if market is None else order_push(order, market)
            case FillEvent(fill=fill):
                market = config.markets.get(fill.market)
                return None if market is None else fill_push(fill, market)
            case BalanceEvent(balance=balance):
                decimals = config.assets.get(balance.asset)
                return None if decimals is None else balance_push(balance, decimals)
        return None

    def close(self) -> None:
        self._sub.close(linger=0)


def _ignore(event: KeyRevoked | KeysHeard) -> None:
    pass
