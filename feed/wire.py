"""The public market-data JSON shapes of docs/api.md, and their rendering from integer rows.

The gateway's REST answers and the feed's WebSocket pushes are built from these same
Structs, so a client sees one shape for one thing.

Invariants:
- Every price, quantity and volume leaves as a decimal string in the market's precision
  (``Market.format_price`` / ``format_qty`` / ``format_quote``); every id as a string;
  every time as integer milliseconds.  Rendering never rounds: rows sit on the grid.
- ``change`` is ``last / open - 1`` as a decimal fraction with exactly four places,
  computed in integers and rounded half away from zero; ``"0.0000"`` when ``open`` is 0.
  No float ever holds it.
- A push Struct is its REST Struct plus ``channel`` (written first) and ``market`` where
  docs/api.md says so; its JSON is encoded once and the same bytes go to every subscriber.
  That holds for the private pushes too: an order, fill or balance push is exactly the
  REST object (``api/wire.py``) with ``channel`` in front.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import msgspec

from actors.accounts.protocol import BalanceView, FillView, OrderView
from actors.engine.protocol import DepthReply
from api.wire import BalanceOut, FillOut, OrderOut, balance_out, fill_out, order_out
from bourse.market import Market
from feed.protocol import KlineRow, TickerRow, TradeRow

Side = Literal["buy", "sell"]
Level = tuple[str, str]  # ["price", "qty"]

CHANGE_PLACES = 4
_CHANGE_SCALE = 10**CHANGE_PLACES


# --- REST shapes (also the bodies of the pushes) ------------------------------------------


class TradeOut(msgspec.Struct, frozen=True):
    trade_id: str
    price: str
    qty: str
    taker_side: Side
    time: int


class KlineOut(msgspec.Struct, frozen=True):
    time: int
    open: str
    high: str
    low: str
    close: str
    volume: str


class TickerOut(msgspec.Struct, frozen=True):
    market: str
    last: str
    open: str
    high: str
    low: str
    volume: str
    quote_volume: str
    change: str


class DepthOut(msgspec.Struct, frozen=True):
    market: str
    seq: int
    bids: list[Level]
    asks: list[Level]


# --- WebSocket pushes ---------------------------------------------------------------------


class TradePush(TradeOut, frozen=True, tag_field="channel", tag="trades"):
    market: str


class KlinePush(KlineOut, frozen=True, tag_field="channel", tag="kline"):
    market: str
    interval: str
    closed: bool


class TickerPush(TickerOut, frozen=True, tag_field="channel", tag="ticker"):
    pass


class DepthSnapshotPush(msgspec.Struct, frozen=True, tag_field="channel", tag="depth"):
    market: str
    seq: int
    bids: list[Level]
    asks: list[Level]
    checksum: int
    type: Literal["snapshot"] = "snapshot"


class DepthUpdatePush(msgspec.Struct, frozen=True, tag_field="channel", tag="depth"):
    market: str
    seq: int
    prev_seq: int
    bids: list[Level]
    asks: list[Level]
    checksum: int
    type: Literal["update"] = "update"


class OrderPush(OrderOut, frozen=True, tag_field="channel", tag="orders"):
    pass


class FillPush(FillOut, frozen=True, tag_field="channel", tag="fills"):
    pass


class BalancePush(BalanceOut, frozen=True, tag_field="channel", tag="balances"):
    pass


PrivatePush = OrderPush | FillPush | BalancePush


# --- acknowledgements and errors on the WebSocket --------------------------------------------


class OpReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """``subscribed`` / ``unsubscribed`` / ``authenticated`` / ``error`` / ``pong``."""

    op: str
    channel: str | None = None
    market: str | None = None
    interval: str | None = None
    user_id: str | None = None
    message: str | None = None


# --- renderers ----------------------------------------------------------------------------


def change_text(last: int, open_: int) -> str:
    """``last / open - 1`` with four places, half away from zero, exact; "0.0000" at open 0."""
    if open_ <= 0:
        return "0.0000"
    numerator = abs(last - open_) * _CHANGE_SCALE
    units, remainder = divmod(numerator, open_)
    if 2 * remainder >= open_:
        units += 1
    sign = "-" if last < open_ and units else ""
    whole, fraction = divmod(units, _CHANGE_SCALE)
    return f"{sign}{whole}.{fraction:0{CHANGE_PLACES}d}"


def trade_out(row: TradeRow, market: Market) -> TradeOut:
    return TradeOut(
        trade_id=str(row.trade_id),
        price=market.format_price(row.price),
        qty=market.format_qty(row.qty),
        taker_side=row.taker_side,
        time=row.time,
    )


def trade_push(row: TradeRow, market: Market) -> TradePush:
    return TradePush(**_fields(trade_out(row, market)), market=market.name)


def kline_out(row: KlineRow, market: Market) -> KlineOut:
    return KlineOut(
        time=row.time,
        open=market.format_price(row.open),
        high=market.format_price(row.high),
        low=market.format_price(row.low),
        close=market.format_price(row.close),
        volume=market.format_qty(row.volume),
    )


def kline_push(row: KlineRow, market: Market, interval: str, closed: bool) -> KlinePush:
    return KlinePush(
        **_fields(kline_out(row, market)), market=market.name, interval=interval, closed=closed
    )


def ticker_out(row: TickerRow, market: Market) -> TickerOut:
    return TickerOut(
        market=row.market,
        last=market.format_price(row.last),
        open=market.format_price(row.open),
        high=market.format_price(row.high),
        low=market.format_price(row.low),
        volume=market.format_qty(row.volume),
        quote_volume=market.format_quote(row.quote_volume),
        change=change_text(row.last, row.open),
    )


def ticker_push(row: TickerRow, market: Market) -> TickerPush:
    return TickerPush(**_fields(ticker_out(row, market)))


def order_push(order: OrderView, market: Market) -> OrderPush:
    return OrderPush(**_fields(order_out(order, market)))


def fill_push(fill: FillView, market: Market) -> FillPush:
    return FillPush(**_fields(fill_out(fill, market)))


def balance_push(balance: BalanceView, decimals: int) -> BalancePush:
    return BalancePush(**_fields(balance_out(balance, decimals)))


def _fields(shape: msgspec.Struct) -> dict[str, Any]:
    """A REST shape's fields, to build the WebSocket push that extends it."""
    return msgspec.structs.asdict(shape)


def levels_out(levels: Iterable[tuple[int, int]], market: Market) -> list[Level]:
    """``[["price", "qty"], ...]`` in the order given; qty "0" means the level is gone."""
    price, qty = market.format_price, market.format_qty
    return [(price(p), qty(q)) for p, q in levels]


def depth_out(reply: DepthReply, market: Market, limit: int | None = None) -> DepthOut:
    """REST depth from an engine snapshot: bids high to low, asks low to high."""
    bids = reply.bids if limit is None else reply.bids[:limit]
    asks = reply.asks if limit is None else reply.asks[:limit]
    return DepthOut(
        market=reply.market,
        seq=reply.seq,
        bids=levels_out(bids, market),
        asks=levels_out(asks, market),
    )
