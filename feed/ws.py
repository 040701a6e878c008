"""The WebSocket endpoint: client ops in, acks and channel messages out (docs/api.md).

Invariants:
- Only the path ``/ws`` upgrades; any other path is answered 404 and closed.
- A connection takes a slot when it opens (``max_connections``: ``feed.max_connections``
  or fewer when the descriptor limit is short, and ``feed.max_connections_per_address``
  from one client address) or is closed at once.
- A connection's ops are handled one at a time, in order; every op is answered (an ack,
  ``pong``, ``authenticated``, or ``{"op": "error", "message"}``) and a bad op never
  closes the connection: a message past ``feed.max_message_bytes`` or nested past
  ``feed.max_message_depth`` is an error reply too.  Only a frame past four times the
  size is closed (1009, by the WebSocket library, before it is buffered whole).
- ``auth`` is limited per client address: ``feed.auth_per_s`` / ``auth_burst`` attempts,
  and the failed ones are counted (``bourse.throttle.AuthFailures``): past
  ``auth_failures.slow_after`` a refusal is answered ``delay_ms`` late (the connection's
  next ops wait behind it), and a blocked address's ``auth`` is refused unexamined.
- Everything a connection is sent goes through its one bounded outbound queue, so acks
  and channel messages keep their order, and a connection that stops reading is closed
  with 1008 "slow consumer" instead of growing memory; it has
  ``feed.slow_close_timeout_ms`` to read up to that close frame before it is aborted.
- A subscription to a channel of a market whose data is stale is told so right after
  its ack (``{"channel": "status", "status": "stale"}``).
- Private channels need a successful ``auth`` first, with a key that has the ``read``
  scope and serves the client's address, and carry only that user's events;
  authenticating as another user drops the previous user's private subscriptions.  A
  session whose key stops working (revoked, feed/keys.py) is closed with 1008.
- permessage-deflate is off: every subscriber is sent the very bytes encoded once.
- Memory per connection is bounded: the kernel send buffer is fixed at
  ``SEND_BUFFER_BYTES`` (no autotuning), the transport holds at most its write limit, the
  outbound queue at most ``send_queue`` messages, and the inbound side at most
  ``MAX_QUEUE`` frames.
- Every refusal is counted by reason in ``refused``, which ``/metrics`` shows.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bourse.config import AuthFailuresSection, FeedSection
from bourse.ids import shard_of_user
from bourse.throttle import AuthFailures, ConnectionSlots, TokenBuckets
from feed import metrics
from feed.auth import UNAVAILABLE, Authenticator, Granted
from feed.hub import USER_KEY, Hub, Key, Session
from feed.markets import MarketData
from feed.ops import (
    PRIVATE_CHANNELS,
    Authenticate,
    ChannelRequest,
    OpError,
    Ping,
    Subscribe,
    Unsubscribe,
    parse,
)
from feed.outbound import Outbound
from feed.wire import OpReply, kline_push, ticker_push

log = logging.getLogger("feed")

PATH = "/ws"
SEND_BUFFER_BYTES = 128 * 1024
FRAME_FACTOR = 4  # frames up to this many times feed.max_message_bytes are read and refused
MAX_QUEUE = 4  # frames read ahead of the op being handled

_encode = msgspec.json.Encoder().encode
_PONG = _encode(OpReply(op="pong"))


class FeedWebSocket:
    def __init__(
        self,
        hub: Hub,
        markets: Mapping[str, MarketData],
        authenticator: Authenticator,
        settings: FeedSection,
        failures: AuthFailuresSection,
        max_connections: int,
        rate: Callable[[], int],
    ) -> None:
        self.hub = hub
        self.markets = markets
        self.authenticator = authenticator
        self.send_queue = settings.send_queue
        self.slow_close_timeout_s = settings.slow_close_timeout_ms / 1000
        self.max_message_bytes = settings.max_message_bytes
        self.max_message_depth = settings.max_message_depth
        self.slots = ConnectionSlots(
            max_connections, min(max_connections, settings.max_connections_per_address)
        )
        self.auth_attempts = TokenBuckets(
            settings.auth_per_s, settings.auth_burst, "rate_limited_auth"
        )
        self.failures = AuthFailures(
            failures.slow_after,
            failures.block_after,
            failures.delay_ms / 1000,
            failures.block_ms / 1000,
            failures.forget_ms / 1000,
        )
        self.refused: Counter[str] = Counter()
        self._rechecks: set[asyncio.Task[None]] = set()
        self.registry = metrics.feed_registry(hub, markets, self.refused, rate)

    @property
    def max_frame_bytes(self) -> int:
        return FRAME_FACTOR * self.max_message_bytes

    def connection_class(self) -> type[ServerConnection]:
        """The server's connections: each holds a slot while it is open."""
        slots, refused = self.slots, self.refused

        class SlottedConnection(ServerConnection):
            address: str | None = None

            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                peer = transport.get_extra_info("peername")
                address = str(peer[0]) if peer else ""
                refusal = slots.take(address)
                if refusal is not None:
                    refused[refusal] += 1
                    transport.abort()
                    return
                self.address = address

            def connection_lost(self, exc: Exception | None) -> None:
                if self.address is not None:
                    slots.give_back(self.address)
                    self.address = None
                super().connection_lost(exc)

        return SlottedConnection

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == metrics.PATH:
            return conn.respond(HTTPStatus.OK, metrics.render(self.registry))
        if path != PATH:
            return conn.respond(HTTPStatus.NOT_FOUND, f"not found: the feed serves {PATH}\n")
        return None

    async def handler(self, conn: ServerConnection) -> None:
        sock = conn.transport.get_extra_info("socket")
        if sock is not None:
            # A fixed kernel buffer: autotuning would let each idle reader pin megabytes.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        outbound = Outbound(conn, self.send_queue, self.slow_close_timeout_s, self.hub.flusher)
        session = Session(conn, outbound)
        self.hub.join(session)
        try:
            while True:
                await self.handle(session, await conn.recv(decode=False))
        except ConnectionClosed:
            pass
        finally:
            self.hub.leave(session)
            await session.out.aclose()

    async def handle(self, session: Session, message: str | bytes) -> None:
        if session.out.closing:
            return  # dropped as a slow consumer: its close is under way
        op = parse(
            message,
            self.markets,
            max_bytes=self.max_message_bytes,
            max_depth=self.max_message_depth,
        )
        match op:
            case Ping():
                self.hub.send(session, _PONG)
            case Subscribe():
                self._subscribe(session, op)
            case Unsubscribe():
                self._unsubscribe(session, op)
            case Authenticate():
                await self._authenticate(session, op.api_key)
            case OpError():
                if op.limit is not None:
                    self.refused[op.limit] += 1
                self._error(session, op.message, op.channel, op.market)

    def _subscribe(self, session: Session, op: Subscribe) -> None:
        key = self._key(session, op)
        if key is None:
            return
        self._ack(session, "subscribed", op)
        if op.market is not None and self.markets[op.market].stale:
            self.hub.send(session, self.markets[op.market].stale_frame)
        if op.channel == "depth" and op.market is not None:
            self.markets[op.market].subscribe_depth(session)
            return
        self.hub.subscribe(session, key)
        if op.market is None:
            return
        market = self.markets[op.market]
        if op.channel == "ticker":
            self.hub.send(session, _encode(ticker_push(market.ticker(), market.market)))
        elif op.channel == "kline" and op.interval is not None:
            candle = market.candles.current.get(op.interval)
            if candle is not None:
                closed = market.candles.closed_until[op.interval] > candle.time
                push = kline_push(candle.row(), market.market, op.interval, closed)
                self.hub.send(session, _encode(push))

    def _unsubscribe(self, session: Session, op: Unsubscribe) -> None:
        key = self._key(session, op)
        if key is None:
            return
        self.hub.unsubscribe(session, key)
        self._ack(session, "unsubscribed", op)

    def _key(self, session: Session, op: ChannelRequest) -> Key | None:
        if op.private:
            if session.user_id is None:
                self._error(
                    session,
                    f'channel {op.channel} needs auth first: send {{"op": "auth", '
                    '"api_key": "..."}',
                    op.channel,
                )
                return None
            return (op.channel, str(session.user_id))
        assert op.market is not None
        if op.interval is not None:
            return (op.channel, op.market, op.interval)
        return (op.channel, op.market)

    async def _authenticate(self, session: Session, api_key: str) -> None:
        remote = session.conn.remote_address
        address = str(remote[0]) if remote else ""
        blocked = self.failures.blocked(address)
        if blocked > 0.0:
            self.refused["auth_blocked"] += 1
            self._error(
                session,
                "too many failed authentications from this address: "
                f"retry in {math.ceil(blocked)} s",
            )
            return
        wait = self.auth_attempts.take(address)
        if wait > 0.0:
            self.refused[self.auth_attempts.name] += 1
            self._error(session, f"too many auth attempts: retry in {math.ceil(wait)} s")
            return
        result = await self.authenticator.authenticate(api_key, address)
        if isinstance(result, str):
            if result != UNAVAILABLE:
                self.refused["auth_failed"] += 1
                delay = self.failures.fail(address)
                if delay > 0.0:
                    await asyncio.sleep(delay)
            self._error(session, result)
            return
        if "read" not in result.scopes:
            self._error(session, "this key lacks the read scope the private channels need")
            return
        if session.user_id is not None and session.user_id != result.user_id:
            self._drop_private(session)
        self._grant(session, result)
        user_id = str(result.user_id)
        self.hub.send(session, _encode(OpReply(op="authenticated", user_id=user_id)))

    def _grant(self, session: Session, granted: Granted) -> None:
        session.user_id = granted.user_id
        session.key_id = granted.key_id
        session.auth = granted.auth
        self.hub.subscribe(session, (USER_KEY, str(granted.user_id)))

    def _drop_private(self, session: Session) -> None:
        for key in list(session.keys):
            if key[0] in PRIVATE_CHANNELS or key[0] == USER_KEY:
                self.hub.unsubscribe(session, key)

    # --- keys that stop working (feed/keys.py) ----------------------------------------------

    def key_revoked(self, user_id: int, key_id: int) -> None:
        for session in list(self.hub.sessions):
            if session.user_id == user_id and session.key_id == key_id:
                self._end_for_key(session)

    def recheck(self, shard: int) -> None:
        """Ask the shard again about every key its users' sessions hold."""
        sessions = [
            s
            for s in self.hub.sessions
            if s.auth is not None and s.user_id is not None and shard_of_user(s.user_id) == shard
        ]
        if sessions:
            task = asyncio.get_running_loop().create_task(self._recheck(sessions))
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)

    async def _recheck(self, sessions: list[Session]) -> None:
        for session in sessions:
            auth = session.auth
            if auth is None:
                continue
            result = await self.authenticator.still_valid(auth)
            if isinstance(result, str) and result != UNAVAILABLE and session.auth is auth:
                self._end_for_key(session)

    def _end_for_key(self, session: Session) -> None:
        """The session's key no longer works: no more private events, and it closes."""
        self._drop_private(session)
        session.user_id = None
        session.auth = None
        self.refused["key_revoked"] += 1
        self._error(session, "the API key was revoked")
        task = asyncio.get_running_loop().create_task(
            session.conn.close(1008, "the API key was revoked")
        )
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    def _ack(self, session: Session, op: str, request: ChannelRequest) -> None:
        reply = OpReply(
            op=op, channel=request.channel, market=request.market, interval=request.interval
        )
        self.hub.send(session, _encode(reply))

    def _error(
        self,
        session: Session,
        message: str,
        channel: str | None = None,
        market: str | None = None,
    ) -> None:
        reply = OpReply(op="error", channel=channel, market=market, message=message)
        self.hub.send(session, _encode(reply))
