"""What the gateway asks the feed over its ROUTER, and what it answers.

Invariants: amounts are ints in the market's units (price: quote units per whole base;
qty: base units; quote volume: quote units); the gateway renders them with the market's
rules.  ``change`` of a ticker is left to the renderer (last / open - 1).
"""

from __future__ import annotations

from typing import Literal

import msgspec

Interval = Literal["1m", "5m", "15m", "1h", "4h", "1d"]
INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}


class _Message(msgspec.Struct, frozen=True, gc=False, tag_field="t"):
    pass


class _Query(_Message, frozen=True, forbid_unknown_fields=True):
    """A query with a field it does not know is refused whole."""


class TradesQuery(_Query, tag="trades", frozen=True):
    market: str
    limit: int = 100


class KlinesQuery(_Query, tag="klines", frozen=True):
    market: str
    interval: Interval
    start: int | None = None
    end: int | None = None
    limit: int = 500


class TickersQuery(_Query, tag="tickers", frozen=True):
    market: str | None = None


class FeedStatusQuery(_Query, tag="status", frozen=True):
    pass


FeedQuery = TradesQuery | KlinesQuery | TickersQuery | FeedStatusQuery


class TradeRow(msgspec.Struct, frozen=True, gc=False, array_like=True):
    trade_id: int
    price: int
    qty: int
    taker_side: Literal["buy", "sell"]
    time: int


class KlineRow(msgspec.Struct, frozen=True, gc=False, array_like=True):
    time: int
    open: int
    high: int
    low: int
    close: int
    volume: int


class TickerRow(msgspec.Struct, frozen=True, gc=False, array_like=True):
    market: str
    last: int
    open: int
    high: int
    low: int
    volume: int
    quote_volume: int


class TradesReply(_Message, tag="trades", frozen=True):
    trades: list[TradeRow]  # newest first


class KlinesReply(_Message, tag="klines", frozen=True):
    klines: list[KlineRow]  # oldest first


class TickersReply(_Message, tag="tickers", frozen=True):
    tickers: list[TickerRow]


class FeedStatus(_Message, tag="status", frozen=True):
    subscribers: int
    markets: dict[str, int]  # market -> last applied sequence number
    # Added with relays (older readers ignore them):
    relay: str = ""  # the relay's process name
    messages_per_s: int = 0  # messages handed to connections, over the last seconds
    slow_closed: int = 0  # connections closed as slow consumers since the relay started
    stale: list[str] = []  # markets whose engine fell silent
    trades_lost: int = 0  # trades missed beyond what the engines retain, since start


class FeedError(_Message, tag="error", frozen=True):
    code: str
    message: str


FeedReply = TradesReply | KlinesReply | TickersReply | FeedStatus | FeedError
