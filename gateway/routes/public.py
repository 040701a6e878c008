"""Public market data: markets, depth (from the engines), trades, klines, tickers (feed).

Invariants: nothing here needs a key; an unknown market is 400 UNKNOWN_MARKET; depth
lists bids high to low and asks low to high with level totals, as the engine gives them.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from litestar import get
from litestar.di import NamedDependency

from actors.engine.protocol import DepthQuery as EngineDepthQuery
from actors.engine.protocol import DepthReply
from bourse.market import Market, format_fee_rate
from feed import protocol as feed
from feed.wire import (
    DepthOut,
    KlineOut,
    TickerOut,
    TradeOut,
    depth_out,
    kline_out,
    ticker_out,
    trade_out,
)
from gateway.actors import expect
from gateway.context import Gateway
from gateway.errors import ApiError, error_responses, invalid
from gateway.query import query
from gateway.schemas import (
    DepthQuery,
    KlinesQuery,
    MarketOut,
    MarketStatus,
    TickersQuery,
    TradesQuery,
)

TAGS = ["market data"]


@get(
    "/markets",
    tags=TAGS,
    summary="Markets and their rules",
    description=(
        "status is trading, halted, cancel_only or post_only (set by the operator), or "
        "unavailable when the market's engine does not answer."
    ),
    responses=error_responses(),
)
async def markets(gw: NamedDependency[Gateway]) -> list[MarketOut]:
    names = list(gw.config.markets)
    statuses = await asyncio.gather(*(_status(gw, name) for name in names))
    return [_market_out(gw.config.markets[n], s) for n, s in zip(names, statuses, strict=True)]


async def _status(gw: Gateway, market: str) -> MarketStatus | Literal["unavailable"]:
    try:
        reply = await gw.link.engine_status(market)
    except ApiError:
        return "unavailable"
    return reply.status


def _market_out(market: Market, status: MarketStatus | Literal["unavailable"]) -> MarketOut:
    return MarketOut(
        market=market.name,
        base=market.base,
        quote=market.quote,
        tick=market.tick_text,
        lot=market.lot_text,
        min_notional=market.format_quote(market.min_notional),
        maker_fee=format_fee_rate(market.maker_fee_ppm),
        taker_fee=format_fee_rate(market.taker_fee_ppm),
        status=status,
    )


@get(
    "/depth",
    tags=TAGS,
    summary="Order book levels",
    dependencies=query(DepthQuery),
    responses=error_responses(400, 503, 504),
)
async def depth(gw: NamedDependency[Gateway], params: NamedDependency[DepthQuery]) -> DepthOut:
    market = gw.market(params.market)
    reply = expect(await gw.link.engine(market.name, EngineDepthQuery(params.limit)), DepthReply)
    return depth_out(reply, market, params.limit)


@get(
    "/trades",
    tags=TAGS,
    summary="Recent trades, newest first",
    dependencies=query(TradesQuery),
    responses=error_responses(400, 503, 504),
)
async def trades(
    gw: NamedDependency[Gateway], params: NamedDependency[TradesQuery]
) -> list[TradeOut]:
    market = gw.market(params.market)
    reply = await gw.link.ask_feed(feed.TradesQuery(market.name, params.limit))
    return [trade_out(row, market) for row in expect(reply, feed.TradesReply).trades]


@get(
    "/klines",
    tags=TAGS,
    summary="Candles, oldest first; time is the bucket start",
    dependencies=query(KlinesQuery),
    responses=error_responses(400, 503, 504),
)
async def klines(
    gw: NamedDependency[Gateway], params: NamedDependency[KlinesQuery]
) -> list[KlineOut]:
    market = gw.market(params.market)
    if params.start is not None and params.end is not None and params.start > params.end:
        raise invalid("start", "start must not be after end")
    request = feed.KlinesQuery(market.name, params.interval, params.start, params.end, params.limit)
    reply = await gw.link.ask_feed(request)
    return [kline_out(row, market) for row in expect(reply, feed.KlinesReply).klines]


@get(
    "/tickers",
    tags=TAGS,
    summary="24-hour tickers",
    dependencies=query(TickersQuery),
    responses=error_responses(400, 503, 504),
)
async def tickers(
    gw: NamedDependency[Gateway], params: NamedDependency[TickersQuery]
) -> list[TickerOut]:
    name = gw.optional_market(params.market)
    reply = expect(await gw.link.ask_feed(feed.TickersQuery(name)), feed.TickersReply)
    known = gw.config.markets
    return [ticker_out(row, known[row.market]) for row in reply.tickers if row.market in known]


ROUTES = [markets, depth, trades, klines, tickers]
