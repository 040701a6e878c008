"""The feed's ROUTER: answers the gateway's history queries (feed/protocol.py).

Invariants:
- A request is ``[identity, rid, body]`` and is answered ``[identity, rid, reply]`` with
  the same rid (the envelopes of a batch, transport/framing.py, are answered one by one),
  always: a body that does not decode, an unknown market or a limit out of
  range is answered with a :class:`FeedError` whose ``code`` the gateway can hand on
  (``BAD_REQUEST``, ``UNKNOWN_MARKET``, ``INVALID_FIELD``).
- Limits: trades default 100, at most 1000; klines default 500, at most 1000.  Trades
  come newest first; klines oldest first, from ``start`` on when it is given, else the
  newest ones up to ``end``; both bounds are inclusive bucket start times.
- Tickers are the rolling 24 h of every market (or the one asked for), in config order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import msgspec
import zmq
import zmq.asyncio

from bourse.peers import FEED_ROUTER
from feed.markets import MarketData
from feed.protocol import (
    FeedError,
    FeedQuery,
    FeedReply,
    FeedStatus,
    FeedStatusQuery,
    KlinesQuery,
    KlinesReply,
    TickersQuery,
    TickersReply,
    TradesQuery,
    TradesReply,
)
from feed.store import FeedStore
from transport.framing import MAX_REQUEST_MESSAGE, pack_rid, unpack_message
from transport.liveness import keep_alive
from transport.security import BusSecurity

log = logging.getLogger("feed")

MAX_TRADES = 1000
MAX_KLINES = 1000


MAX_TIME = 2**63 - 1


class QueryServer:
    def __init__(
        self,
        context: zmq.asyncio.Context,
        endpoints: tuple[str, ...],
        markets: Mapping[str, MarketData],
        store: FeedStore,
        status: Callable[[], FeedStatus],
        security: BusSecurity,
    ) -> None:
        self._markets = markets
        self._store = store
        self._status = status
        self._socket = context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_MESSAGE)
        keep_alive(self._socket)
        # Every query only reads, so the domain (the gateway and the operator's tools) is
        # the whole of who may send what here.
        security.serve(self._socket, FEED_ROUTER)
        for endpoint in endpoints:
            self._socket.bind(endpoint)
        self._decode = msgspec.msgpack.Decoder(FeedQuery).decode
        self._encode = msgspec.msgpack.Encoder().encode

    async def run(self) -> None:
        while True:
            frames = await self._socket.recv_multipart()
            # the identity, then one query or several (a request id is not logged here)
            identity = frames[0]
            for envelope in unpack_message(frames[1:]) or ():
                try:
                    reply = self.answer(envelope.body)
                except Exception:
                    # a query must never take the feed down with it
                    log.exception("query failed")
                    reply = FeedError("INTERNAL", "the query could not be answered")
                reply_frames = (identity, pack_rid(envelope.rid), self._encode(reply))
                await self._socket.send_multipart(reply_frames)

    def answer(self, body: bytes) -> FeedReply:
        try:
            query = self._decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            return FeedError("BAD_REQUEST", f"query does not decode: {error}")
        match query:
            case TradesQuery():
                return self._trades(query)
            case KlinesQuery():
                return self._klines(query)
            case TickersQuery():
                return self._tickers(query)
            case FeedStatusQuery():
                return self._status()
        return FeedError("BAD_REQUEST", "unknown query")

    def _market(self, name: str) -> MarketData | FeedError:
        market = self._markets.get(name)
        if market is None:
            return FeedError("UNKNOWN_MARKET", f"unknown market {name!r}")
        return market

    def _trades(self, query: TradesQuery) -> FeedReply:
        market = self._market(query.market)
        if isinstance(market, FeedError):
            return market
        if not 1 <= query.limit <= MAX_TRADES:
            return FeedError("INVALID_FIELD", f"limit must be between 1 and {MAX_TRADES}")
        return TradesReply(market.recent_trades(query.limit))

    def _klines(self, query: KlinesQuery) -> FeedReply:
        market = self._market(query.market)
        if isinstance(market, FeedError):
            return market
        if not 1 <= query.limit <= MAX_KLINES:
            return FeedError("INVALID_FIELD", f"limit must be between 1 and {MAX_KLINES}")
        for name, bound in (("start", query.start), ("end", query.end)):
            if bound is not None and not 0 <= bound <= MAX_TIME:
                return FeedError("INVALID_FIELD", f"{name} must be between 0 and {MAX_TIME}")
        if query.start is not None and query.end is not None and query.start > query.end:
            return FeedError("INVALID_FIELD", "start must not be after end")
        self._store.commit()
        rows = self._store.klines(market.name, query.interval, query.start, query.end, query.limit)
        return KlinesReply(rows)

    def _tickers(self, query: TickersQuery) -> FeedReply:
        if query.market is not None:
            market = self._market(query.market)
            if isinstance(market, FeedError):
                return market
            return TickersReply([market.ticker()])
        return TickersReply([m.ticker() for m in self._markets.values()])

    def close(self) -> None:
        self._socket.close(linger=0)
