"""The public JSON shapes of docs/api.md, and their rendering from internal integer views.

Invariants:
- Every amount leaves as a decimal string in its asset's or market's precision; every id
  as a string; every time as integer milliseconds.  REST answers and WebSocket pushes use
  these same Structs, so a client sees one shape for one thing.
- Rendering never rounds: internal amounts sit on the grid the formats print.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from actors.accounts.protocol import BalanceView, FillView, OrderListView, OrderView
from bourse.market import Market
from bourse.money import format_units


class FillOut(msgspec.Struct, frozen=True):
    fill_id: str  # grows with time within a shard: paging by it sees each fill once
    trade_id: str
    order_id: str
    market: str
    side: Literal["buy", "sell"]
    price: str
    qty: str
    fee: str
    fee_asset: str
    liquidity: Literal["maker", "taker"]
    time: int


OrderType = Literal[
    "limit", "market", "stop_limit", "stop_market", "take_profit_limit", "take_profit_market"
]


class OrderOut(msgspec.Struct, frozen=True):
    """``stop_price``, ``triggered`` (false until the stop triggers) and ``list_id`` are
    null for an order without a stop or a list, ``expire_time`` for one that is not GTD.
    A triggered order keeps its ``type``."""

    order_id: str
    client_order_id: str | None
    market: str
    side: Literal["buy", "sell"]
    type: OrderType
    price: str | None
    qty: str | None
    quote_qty: str | None
    filled_qty: str
    filled_quote: str
    fee: str
    fee_asset: str
    status: Literal["new", "partially_filled", "filled", "cancelled", "expired", "rejected"]
    time_in_force: Literal["GTC", "IOC", "FOK", "GTD"]
    post_only: bool
    stp: Literal["expire_taker", "expire_maker", "expire_both"]
    created_at: int
    updated_at: int
    fills: list[FillOut]
    stop_price: str | None
    expire_time: int | None
    triggered: bool | None
    list_id: str | None


class OrderListOut(msgspec.Struct, frozen=True):
    """An OCO list: ``orders`` is its limit leg, then its stop leg."""

    list_id: str
    client_list_id: str | None
    market: str
    side: Literal["buy", "sell"]
    status: Literal["open", "done"]
    created_at: int
    updated_at: int
    orders: list[OrderOut]


class BalanceOut(msgspec.Struct, frozen=True):
    asset: str
    free: str
    locked: str


def fill_out(fill: FillView, market: Market) -> FillOut:
    return FillOut(
        fill_id=str(fill.fill_id),
        trade_id=str(fill.trade_id),
        order_id=str(fill.order_id),
        market=fill.market,
        side=fill.side,
        price=market.format_price(fill.price),
        qty=market.format_qty(fill.qty),
        fee=market.format_quote(fill.fee),
        fee_asset=fill.fee_asset,
        liquidity=fill.liquidity,
        time=fill.time,
    )


def order_out(order: OrderView, market: Market) -> OrderOut:
    return OrderOut(
        order_id=str(order.order_id),
        client_order_id=order.client_order_id,
        market=order.market,
        side=order.side,
        type=order.type,
        price=market.format_price(order.price) if order.price else None,
        qty=market.format_qty(order.qty) if order.qty else None,
        quote_qty=market.format_quote(order.quote_qty) if order.quote_qty else None,
        filled_qty=market.format_qty(order.filled_qty),
        filled_quote=market.format_quote(order.filled_quote),
        fee=market.format_quote(order.fee),
        fee_asset=market.quote,
        status=order.status,
        time_in_force=order.time_in_force,
        post_only=order.post_only,
        stp=order.stp,
        created_at=order.created_at,
        updated_at=order.updated_at,
        fills=[fill_out(fill, market) for fill in order.fills],
        stop_price=market.format_price(order.stop_price) if order.stop_price else None,
        expire_time=order.expire_time or None,
        triggered=order.triggered,
        list_id=str(order.list_id) if order.list_id else None,
    )


def order_list_out(order_list: OrderListView, market: Market) -> OrderListOut:
    return OrderListOut(
        list_id=str(order_list.list_id),
        client_list_id=order_list.client_list_id,
        market=order_list.market,
        side=order_list.side,
        status=order_list.status,
        created_at=order_list.created_at,
        updated_at=order_list.updated_at,
        orders=[order_out(order, market) for order in order_list.orders],
    )


def balance_out(balance: BalanceView, decimals: int) -> BalanceOut:
    return BalanceOut(
        asset=balance.asset,
        free=format_units(balance.free, decimals),
        locked=format_units(balance.locked, decimals),
    )
