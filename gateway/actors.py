"""The gateway's line to every actor: one asyncio DEALER per shard, per engine, to the feed.

Invariants:
- One :class:`Actors` per worker process, built in the app's startup on that process's
  own ``zmq.asyncio`` Context and closed at shutdown; many requests share each DEALER and
  each reply finds its request by request id.
- Every DEALER speaks as the ``gateway`` (its CURVE key), the only process the shards let
  speak for a user or claim the admin key.
- Every call ends within ``exchange.request_timeout_ms``: with the reply, with
  ``ApiError(503, UNAVAILABLE)`` at once when the actor is not connected, or with
  ``ApiError(504, TIMEOUT)``.  An actor that is down or slow fails only the calls that
  need it.
- An accounts shard's ``ErrorReply`` becomes an :class:`ApiError` with the shard's status,
  code and field, so callers only ever see the reply they asked for.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

import msgspec
import zmq
import zmq.asyncio

from actors.accounts.protocol import AccountsReply, AccountsRequest, Auth
from actors.accounts.protocol import ErrorReply as AccountsError
from actors.engine.protocol import EngineInbound, EngineOutbound, EngineStatus, StatusQuery
from actors.engine.protocol import ErrorReply as EngineError
from bourse.config import Config
from bourse.peers import FEED, GATEWAY
from feed.protocol import FeedError, FeedQuery, FeedReply
from gateway import requestid
from gateway.errors import ApiError
from transport.client import DealerClient, Timeout, Unavailable, follow_keys
from transport.security import BusSecurity, bus_security

R = TypeVar("R")

_FEED_ERROR_STATUS = {"UNKNOWN_MARKET": 400, "INVALID_FIELD": 400}
PROBE_TIMEOUT_S = 1.0  # a status probe's limit: a market list or a health check stays quick


def gateway_security(config: Config) -> BusSecurity:
    """The gateway's key (it listens on no ZeroMQ socket: it only dials)."""
    return bus_security(config, GATEWAY, domains=[])


class Actors:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.timeout_s = config.exchange.request_timeout_ms / 1000
        self.context = zmq.asyncio.Context()
        self.security = security = gateway_security(config)
        timeout_s = self.timeout_s
        self.shards = [
            DealerClient(self.context, shard.routers, shard.name, timeout_s, security)
            for shard in config.shards
        ]
        self.engines = {
            market: DealerClient(self.context, engine.routers, engine.name, timeout_s, security)
            for market, engine in config.engines.items()
        }
        self.feed = DealerClient(
            self.context, [(config.feed_router.connect, FEED)], FEED, timeout_s, security
        )
        self._keys: asyncio.Task[None] | None = None
        self._encoder = msgspec.msgpack.Encoder()
        self._accounts: msgspec.msgpack.Decoder[AccountsReply] = msgspec.msgpack.Decoder(
            AccountsReply
        )
        self._engine: msgspec.msgpack.Decoder[EngineOutbound] = msgspec.msgpack.Decoder(
            EngineOutbound
        )
        self._feed: msgspec.msgpack.Decoder[FeedReply] = msgspec.msgpack.Decoder(FeedReply)

    def start(self) -> None:
        for client in self._clients():
            client.start()
        self._keys = asyncio.get_running_loop().create_task(follow_keys(self.security))

    async def close(self) -> None:
        if self._keys is not None:
            self._keys.cancel()
        for client in self._clients():
            await client.close()
        self.context.destroy(linger=0)

    def _clients(self) -> list[DealerClient]:
        return [*self.shards, *self.engines.values(), self.feed]

    async def shard(
        self, index: int, request: AccountsRequest, timeout_s: float | None = None
    ) -> AccountsReply:
        body = await _call(self.shards[index], self._encoder.encode(request), timeout_s)
        reply = self._decode(self._accounts, body, self.shards[index].name)
        if isinstance(reply, AccountsError):
            raise ApiError(reply.status, reply.code, reply.message, reply.field)
        return reply

    async def user(
        self, auth: Auth, request: AccountsRequest, timeout_s: float | None = None
    ) -> AccountsReply:
        """Ask the shard that holds ``auth``'s user; the id names it."""
        shard = self.config.shard_of_user(auth.user_id)
        if shard is None:
            raise ApiError(401, "UNAUTHENTICATED", "missing or wrong API key")
        return await self.shard(shard.shard, request, timeout_s)

    async def engine(
        self, market: str, request: EngineInbound, timeout_s: float | None = None
    ) -> EngineOutbound:
        client = self.engines[market]
        body = await _call(client, self._encoder.encode(request), timeout_s)
        reply = self._decode(self._engine, body, client.name)
        if isinstance(reply, EngineError):
            raise ApiError(502, reply.code, reply.message)
        return reply

    @property
    def probe_timeout_s(self) -> float:
        return min(PROBE_TIMEOUT_S, self.timeout_s)

    async def engine_status(self, market: str) -> EngineStatus:
        """The engine's status within the probe timeout (``ApiError`` when it fails)."""
        reply = await self.engine(market, StatusQuery(), self.probe_timeout_s)
        return expect(reply, EngineStatus)

    async def ask_feed(self, query: FeedQuery, timeout_s: float | None = None) -> FeedReply:
        body = await _call(self.feed, self._encoder.encode(query), timeout_s)
        reply = self._decode(self._feed, body, "feed")
        if isinstance(reply, FeedError):
            raise ApiError(_FEED_ERROR_STATUS.get(reply.code, 502), reply.code, reply.message)
        return reply

    @staticmethod
    def _decode(decoder: msgspec.msgpack.Decoder[R], body: bytes, name: str) -> R:
        try:
            return decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise ApiError(502, "BAD_GATEWAY", f"{name} answered something unreadable") from error


async def _call(client: DealerClient, body: bytes, timeout_s: float | None) -> bytes:
    try:
        return await client.request(body, timeout_s, requestid.current.get())
    except Unavailable:
        raise ApiError(503, "UNAVAILABLE", f"{client.name} is not reachable") from None
    except Timeout:
        raise ApiError(
            504, "TIMEOUT", f"{client.name} did not answer in time; the outcome is unknown"
        ) from None


def expect(reply: object, kind: type[R]) -> R:
    """The reply when it is of the kind asked for; a 502 otherwise (a protocol bug)."""
    if not isinstance(reply, kind):
        raise ApiError(502, "BAD_GATEWAY", f"unexpected answer {type(reply).__name__}")
    return reply
