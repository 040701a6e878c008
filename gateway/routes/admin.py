"""The operator's endpoints, behind the admin key: a market's status, and totals.

Invariants:
- Every route here passes :func:`gateway.context.admin_guard` first (401 otherwise).
- A halted market refuses new orders and amends (422 MARKET_HALTED) while cancels work;
  a ``cancel_only`` one the same with 422 MARKET_CANCEL_ONLY; a ``post_only`` one
  refuses whatever would take (422 POST_ONLY_WOULD_TAKE).  ``halt`` and ``resume`` are
  the statuses ``halted`` and ``trading``.
- Totals add every shard's per-asset sums; ``conserved`` says whether
  free + locked + fees == deposits - withdrawals, which holds once every engine report
  in flight has been settled.  A shard that does not answer fails the whole call.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from actors.accounts.protocol import AssetTotals, Auth, GetTotals, TotalsReply
from actors.engine.messages import Halt, Resume, SetStatus
from actors.engine.protocol import Ack, AdminRequest
from bourse.money import format_units
from gateway.actors import expect
from gateway.auth import BEARER
from gateway.context import Gateway, admin_guard
from gateway.errors import error_responses
from gateway.schemas import (
    AdminMarketOut,
    AssetTotalsOut,
    MarketStatusRequest,
    ShardTotalsOut,
    TotalsOut,
)

TAGS = ["admin"]
MarketPath = Annotated[str, PathParameter(description="BASE-QUOTE")]
_ADMIN = Auth(0, b"", admin=True)


@post(
    "/markets/{market:str}/halt",
    status_code=200,
    summary="Halt a market: only cancels are accepted",
    responses=error_responses(400, 401, 503, 504),
)
async def halt(gw: NamedDependency[Gateway], market: MarketPath) -> AdminMarketOut:
    name = gw.market(market).name
    expect(await gw.link.engine(name, AdminRequest(Halt())), Ack)
    return AdminMarketOut(market=name, status="halted")


@post(
    "/markets/{market:str}/resume",
    status_code=200,
    summary="Resume a halted market",
    responses=error_responses(400, 401, 503, 504),
)
async def resume(gw: NamedDependency[Gateway], market: MarketPath) -> AdminMarketOut:
    name = gw.market(market).name
    expect(await gw.link.engine(name, AdminRequest(Resume())), Ack)
    return AdminMarketOut(market=name, status="trading")


@post(
    "/markets/{market:str}/status",
    status_code=200,
    summary="Set a market's status: trading, halted, cancel_only or post_only",
    description=(
        "halted and cancel_only take cancels only (new orders get 422 MARKET_HALTED or "
        "MARKET_CANCEL_ONLY); post_only refuses any order that would take (422 "
        "POST_ONLY_WOULD_TAKE).  Untriggered stop orders wait until trading resumes."
    ),
    responses=error_responses(400, 401, 413, 503, 504),
)
async def set_status(
    gw: NamedDependency[Gateway], market: MarketPath, data: JSONBody[MarketStatusRequest]
) -> AdminMarketOut:
    name = gw.market(market).name
    expect(await gw.link.engine(name, AdminRequest(SetStatus(data.status))), Ack)
    return AdminMarketOut(market=name, status=data.status)


@get(
    "/totals",
    summary="Per-asset sums over every shard, and whether money is conserved",
    responses=error_responses(401, 503, 504),
)
async def totals(gw: NamedDependency[Gateway]) -> TotalsOut:
    replies = await asyncio.gather(
        *(gw.link.shard(shard, GetTotals(_ADMIN)) for shard in range(len(gw.config.shards)))
    )
    shards = [expect(reply, TotalsReply) for reply in replies]
    sums: dict[str, list[int]] = {asset: [0] * 7 for asset in gw.config.assets}
    for shard in shards:
        for row in shard.assets:
            if row.asset in sums:
                _add(sums[row.asset], row)
    assets = [_asset_out(asset, gw.config.assets[asset], sums[asset]) for asset in sums]
    return TotalsOut(
        conserved=all(asset.conserved for asset in assets),
        assets=assets,
        shards=[ShardTotalsOut(s.shard, s.users, s.open_orders) for s in shards],
    )


def _add(into: list[int], row: AssetTotals) -> None:
    values = (
        row.free,
        row.locked,
        row.fees,
        row.deposits,
        row.withdrawals,
        row.traded_in,
        row.traded_out,
    )
    for index, value in enumerate(values):
        into[index] += value


def _asset_out(asset: str, decimals: int, sums: list[int]) -> AssetTotalsOut:
    free, locked, fees, deposits, withdrawals = sums[:5]
    text = [format_units(value, decimals) for value in sums]
    return AssetTotalsOut(
        asset=asset,
        free=text[0],
        locked=text[1],
        fees=text[2],
        deposits=text[3],
        withdrawals=text[4],
        traded_in=text[5],
        traded_out=text[6],
        conserved=free + locked + fees == deposits - withdrawals,
    )


router = Router(
    path="/admin",
    route_handlers=[halt, resume, set_status, totals],
    guards=[admin_guard],
    security=BEARER,
    tags=TAGS,
)
