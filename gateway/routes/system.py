"""What the UI and operators ask first: where the feed is, and who is up.

Invariants: ``/info`` comes from the config alone; ``/health`` asks every engine, shard
and the feed at once with a short deadline and answers 200 only when all of them answered,
503 otherwise, always with each actor's numbers or its error code.
"""

from __future__ import annotations

import asyncio

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from actors.accounts.protocol import GetStatus, ShardStatus
from feed.protocol import FeedStatus, FeedStatusQuery
from gateway.actors import expect
from gateway.context import Gateway
from gateway.errors import ApiError, error_responses
from gateway.schemas import EngineHealth, FeedHealth, HealthOut, InfoOut, ShardHealth

TAGS = ["system"]


@get(
    "/info",
    tags=TAGS,
    summary="Where the feed listens; which switches are on",
    responses=error_responses(),
)
async def info(gw: NamedDependency[Gateway]) -> InfoOut:
    feed = gw.config.feed_ws
    exchange = gw.config.exchange
    return InfoOut(
        ws_url=f"ws://{feed.address}:{feed.port}/ws",
        signup=exchange.open_signup,
        faucet=exchange.faucet,
    )


@get(
    "/health",
    tags=TAGS,
    summary="Which actors answer, with their status numbers",
    description="200 when every engine, shard and the feed answered; 503 otherwise.",
    responses={
        **error_responses(),
        503: ResponseSpec(
            data_container=HealthOut,
            description="Some actor did not answer: see which",
            generate_examples=False,
        ),
    },
)
async def health(gw: NamedDependency[Gateway]) -> Response[HealthOut]:
    timeout = gw.link.probe_timeout_s
    engines, shards, feed = await asyncio.gather(
        asyncio.gather(*(_engine(gw, market) for market in gw.config.engines)),
        asyncio.gather(*(_shard(gw, shard, timeout) for shard in range(len(gw.config.shards)))),
        _feed(gw, timeout),
    )
    ok = all(e.up for e in engines) and all(s.up for s in shards) and feed.up
    body = HealthOut(ok=ok, engines=list(engines), shards=list(shards), feed=feed)
    return Response(body, status_code=200 if ok else 503)


async def _engine(gw: Gateway, market: str) -> EngineHealth:
    try:
        reply = await gw.link.engine_status(market)
    except ApiError as error:
        return EngineHealth(market=market, up=False, error=error.code)
    return EngineHealth(
        market=market,
        up=True,
        seq=reply.seq,
        halted=reply.halted,
        open_orders=reply.open_orders,
        commands=reply.commands,
    )


async def _shard(gw: Gateway, shard: int, timeout: float) -> ShardHealth:
    try:
        reply = expect(await gw.link.shard(shard, GetStatus(), timeout), ShardStatus)
    except ApiError as error:
        return ShardHealth(shard=shard, up=False, error=error.code)
    return ShardHealth(
        shard=shard,
        up=True,
        users=reply.users,
        open_orders=reply.open_orders,
        commands=reply.commands,
        pending_requests=reply.pending_requests,
    )


async def _feed(gw: Gateway, timeout: float) -> FeedHealth:
    try:
        reply = expect(await gw.link.ask_feed(FeedStatusQuery(), timeout), FeedStatus)
    except ApiError as error:
        return FeedHealth(up=False, error=error.code)
    return FeedHealth(up=True, subscribers=reply.subscribers, markets=dict(reply.markets))


ROUTES = [info, health]
