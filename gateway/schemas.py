"""The REST shapes the gateway takes and gives that api.wire does not already hold.

Invariants:
- Every amount in or out is a decimal string; the patterns here only say what a decimal
  string looks like, the market's and asset's rules (tick, lot, precision, positivity)
  are applied by :mod:`bourse.market` and :mod:`bourse.money` so their codes survive.
- Request bodies refuse unknown fields: a misspelt ``post_only`` must not place an order
  that takes liquidity.  :data:`CLOSED_BODIES` lists them so the OpenAPI document says so.
- Query Structs are :class:`gateway.query.QueryParams`: their fields are the parameters.
- A batch's items are :class:`OrderRequest` bodies: a batch with an item that is not
  one (a wrong type, an unknown field) is malformed and refused whole, naming it; an
  item that is well formed but breaks a rule is refused alone (gateway/routes/batches.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar.params import QueryParameter

from actors.accounts.protocol import MAX_BATCH, MAX_CANCEL_BATCH
from actors.accounts.switch import MAX_TIMEOUT_MS
from api.wire import BalanceOut, FillOut, OrderListOut, OrderOut, OrderType
from bourse.money import MAX_UNITS
from feed.protocol import Interval
from gateway.errors import ErrorBody
from gateway.query import QueryParams

DECIMAL_PATTERN = r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$"
CLIENT_ORDER_ID_PATTERN = r"^[A-Za-z0-9_\-.:]{1,64}$"
ORDER_ID_PATTERN = r"^[0-9]{1,19}$"
USER_ID_PATTERN = r"^[0-9]{1,18}$"
MARKET_NAME = Annotated[
    str, msgspec.Meta(min_length=1, max_length=32, examples=["BTC-USDT"], description="BASE-QUOTE")
]
ASSET_NAME = Annotated[str, msgspec.Meta(min_length=1, max_length=16, examples=["USDT"])]


def _decimal(description: str, example: str) -> msgspec.Meta:
    return msgspec.Meta(pattern=DECIMAL_PATTERN, examples=[example], description=description)


Price = Annotated[str, _decimal("price in quote units per base unit, on the tick", "30123.45")]
Qty = Annotated[str, _decimal("base quantity, on the lot", "0.25")]
QuoteQty = Annotated[str, _decimal("quote amount a market buy spends at most", "1000")]
Amount = Annotated[str, _decimal("amount in the asset's precision", "1000")]
StopPrice = Annotated[
    str, _decimal("the last trade price that triggers the order, on the tick", "29500.00")
]
ClientOrderId = Annotated[
    str, msgspec.Meta(pattern=CLIENT_ORDER_ID_PATTERN, description="1-64 of A-Z a-z 0-9 _-.:")
]
ExpireTime = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_UNITS,
        description="GTD only: when the order expires, ms since the epoch; in the future, "
        "at most 90 days ahead",
    ),
]
TimeInForce = Literal["GTC", "IOC", "FOK", "GTD"]
SelfTradePrevention = Literal["expire_taker", "expire_maker", "expire_both"]
MarketStatus = Literal["trading", "halted", "cancel_only", "post_only"]


class _Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


# --- request bodies ---------------------------------------------------------------------


RecvWindow = Annotated[
    int,
    msgspec.Meta(
        ge=100,
        description=(
            "Execute only if the request reaches its shard and engine within this many ms "
            "of the gateway's receipt (up to the request timeout, also the default); never "
            "later.  After a 503 or 504, a query by client_order_id once it has passed "
            "gives the final outcome."
        ),
    ),
]


class OrderRequest(_Body, frozen=True):
    """A stop or take-profit order also gives ``stop_price`` and is sized like the limit
    or market order it becomes; a GTD order gives ``expire_time``."""

    market: MARKET_NAME
    side: Literal["buy", "sell"]
    type: OrderType
    price: Price | None = None
    qty: Qty | None = None
    quote_qty: QuoteQty | None = None
    time_in_force: TimeInForce = "GTC"
    post_only: bool = False
    client_order_id: ClientOrderId | None = None
    stp: SelfTradePrevention = "expire_taker"
    stop_price: StopPrice | None = None
    expire_time: ExpireTime | None = None
    recv_window_ms: RecvWindow | None = None


class OrderListRequest(_Body, frozen=True):
    """An OCO list of two orders of one side: a limit order at ``price`` and a stop
    order at ``stop_price``, a stop-limit one at ``stop_limit_price`` or, without it, a
    stop-market one (a sell only)."""

    market: MARKET_NAME
    side: Literal["buy", "sell"]
    qty: Qty
    price: Price
    stop_price: StopPrice
    stop_limit_price: (
        Annotated[str, _decimal("the stop leg's limit price, on the tick", "29400.00")] | None
    ) = None
    client_list_id: ClientOrderId | None = None
    time_in_force: Literal["GTC", "GTD"] = "GTC"
    expire_time: ExpireTime | None = None
    stp: SelfTradePrevention = "expire_taker"
    recv_window_ms: RecvWindow | None = None


class BatchOrdersRequest(_Body, frozen=True):
    orders: Annotated[
        list[OrderRequest],
        msgspec.Meta(
            min_length=1,
            max_length=MAX_BATCH,
            description="order requests, as for POST /api/v1/orders (the batch's own "
            "recv_window_ms applies to every one of them)",
        ),
    ]
    recv_window_ms: RecvWindow | None = None


class BatchCancelRequest(_Body, frozen=True):
    order_ids: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=64)]],
        msgspec.Meta(min_length=1, max_length=MAX_CANCEL_BATCH),
    ]
    recv_window_ms: RecvWindow | None = None


class CancelAfterRequest(_Body, frozen=True):
    timeout_ms: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=MAX_TIMEOUT_MS,
            description="1,000 to 3,600,000 ms from now; 0 disarms the switch",
        ),
    ]


class MarketStatusRequest(_Body, frozen=True):
    status: MarketStatus


class AmendRequest(_Body, frozen=True):
    qty: Qty | None = None
    price: Price | None = None
    recv_window_ms: RecvWindow | None = None


class DepositRequest(_Body, frozen=True):
    asset: ASSET_NAME
    amount: Amount
    user_id: (
        Annotated[
            str,
            msgspec.Meta(
                pattern=USER_ID_PATTERN, description="with the admin key: the user to credit"
            ),
        ]
        | None
    ) = None


class WithdrawalRequest(_Body, frozen=True):
    asset: ASSET_NAME
    amount: Amount


ScopeName = Literal["read", "trade", "withdraw", "keys"]
IpOrBlock = Annotated[
    str,
    msgspec.Meta(
        min_length=2,
        max_length=64,
        examples=["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"],
        description="an IPv4 or IPv6 address, or a CIDR block",
    ),
]


class KeyRequest(_Body, frozen=True):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["trading bot"])]
    scopes: Annotated[list[ScopeName], msgspec.Meta(min_length=1, max_length=4)]
    allowed_ips: Annotated[list[IpOrBlock], msgspec.Meta(max_length=32)] | None = None


CLOSED_BODIES: tuple[type[msgspec.Struct], ...] = (
    OrderRequest,
    AmendRequest,
    DepositRequest,
    WithdrawalRequest,
    OrderListRequest,
    BatchOrdersRequest,
    BatchCancelRequest,
    CancelAfterRequest,
    MarketStatusRequest,
    KeyRequest,
)


# --- query parameters -------------------------------------------------------------------

Limit1000 = Annotated[int, QueryParameter(ge=1, le=1000, description="at most this many rows")]
MarketParam = Annotated[str, QueryParameter(min_length=1, max_length=32, description="BASE-QUOTE")]


class DepthQuery(QueryParams, frozen=True):
    market: MarketParam
    limit: Limit1000 = 100


class TradesQuery(QueryParams, frozen=True):
    market: MarketParam
    limit: Limit1000 = 100


class KlinesQuery(QueryParams, frozen=True):
    market: MarketParam
    interval: Interval
    start: Annotated[
        int | None, QueryParameter(ge=0, le=MAX_UNITS, description="first bucket start, ms")
    ] = None
    end: Annotated[
        int | None, QueryParameter(ge=0, le=MAX_UNITS, description="last bucket start, ms")
    ] = None
    limit: Limit1000 = 500


class TickersQuery(QueryParams, frozen=True):
    market: Annotated[str | None, QueryParameter(min_length=1, max_length=32)] = None


MAX_ID = 2**63 - 1
FromId = Annotated[
    int | None,
    QueryParameter(
        ge=0, le=MAX_ID, description="items with an id >= this, oldest first (else newest first)"
    ),
]
Since = Annotated[
    int | None, QueryParameter(ge=0, le=MAX_UNITS, description="items at or after this time, ms")
]
Until = Annotated[
    int | None, QueryParameter(ge=0, le=MAX_UNITS, description="items at or before this time, ms")
]


class OrdersQuery(QueryParams, frozen=True):
    market: Annotated[str | None, QueryParameter(min_length=1, max_length=32)] = None
    status: Literal["open", "all"] = "open"
    limit: Limit1000 = 100
    from_id: FromId = None
    start: Since = None
    end: Until = None


class CancelAllQuery(QueryParams, frozen=True):
    market: Annotated[str | None, QueryParameter(min_length=1, max_length=32)] = None
    recv_window_ms: Annotated[int | None, QueryParameter(ge=100)] = None


class CancelQuery(QueryParams, frozen=True):
    recv_window_ms: Annotated[int | None, QueryParameter(ge=100)] = None


class FillsQuery(QueryParams, frozen=True):
    market: Annotated[str | None, QueryParameter(min_length=1, max_length=32)] = None
    limit: Limit1000 = 100
    from_id: FromId = None
    start: Since = None
    end: Until = None


# --- answers ----------------------------------------------------------------------------


class MarketOut(msgspec.Struct, frozen=True):
    market: str
    base: str
    quote: str
    tick: str
    lot: str
    min_notional: str
    maker_fee: str
    taker_fee: str
    status: MarketStatus | Literal["unavailable"]


class UserOut(msgspec.Struct, frozen=True):
    user_id: str
    api_key: str


class KeyOut(msgspec.Struct, frozen=True):
    key_id: str
    label: str
    scopes: list[ScopeName]
    allowed_ips: list[str]
    created_at: int


class KeyCreatedOut(msgspec.Struct, frozen=True):
    key_id: str
    api_key: str
    label: str
    scopes: list[ScopeName]
    allowed_ips: list[str]
    created_at: int


class InfoOut(msgspec.Struct, frozen=True):
    ws_url: str
    signup: bool
    faucet: bool


class EngineHealth(msgspec.Struct, frozen=True):
    market: str
    up: bool
    error: str | None = None
    seq: int = 0
    halted: bool = False
    open_orders: int = 0
    commands: int = 0


class ShardHealth(msgspec.Struct, frozen=True):
    shard: int
    up: bool
    error: str | None = None
    users: int = 0
    open_orders: int = 0
    commands: int = 0
    pending_requests: int = 0


class FeedHealth(msgspec.Struct, frozen=True):
    up: bool
    error: str | None = None
    subscribers: int = 0
    markets: dict[str, int] = msgspec.field(default_factory=dict)


class HealthOut(msgspec.Struct, frozen=True):
    ok: bool
    engines: list[EngineHealth]
    shards: list[ShardHealth]
    feed: FeedHealth


class AdminMarketOut(msgspec.Struct, frozen=True):
    market: str
    status: MarketStatus


class BatchResultOut(msgspec.Struct, frozen=True, omit_defaults=True):
    """One item of a batch: its status and the order, or the error that refused it."""

    status: int
    order: OrderOut | None = None
    error: ErrorBody | None = None


class CancelAfterOut(msgspec.Struct, frozen=True):
    now: int
    trigger_time: int | None


class AssetTotalsOut(msgspec.Struct, frozen=True):
    asset: str
    free: str
    locked: str
    fees: str
    deposits: str
    withdrawals: str
    traded_in: str
    traded_out: str
    conserved: bool


class ShardTotalsOut(msgspec.Struct, frozen=True):
    shard: int
    users: int
    open_orders: int


class TotalsOut(msgspec.Struct, frozen=True):
    conserved: bool
    assets: list[AssetTotalsOut]
    shards: list[ShardTotalsOut]


__all__ = [
    "CLOSED_BODIES",
    "AdminMarketOut",
    "AmendRequest",
    "BalanceOut",
    "BatchCancelRequest",
    "BatchOrdersRequest",
    "BatchResultOut",
    "CancelAfterOut",
    "CancelAfterRequest",
    "CancelAllQuery",
    "DepositRequest",
    "DepthQuery",
    "FillOut",
    "FillsQuery",
    "HealthOut",
    "InfoOut",
    "KeyCreatedOut",
    "KeyOut",
    "KeyRequest",
    "KlinesQuery",
    "MarketOut",
    "MarketStatusRequest",
    "OrderListOut",
    "OrderListRequest",
    "OrderOut",
    "OrderRequest",
    "OrdersQuery",
    "TickersQuery",
    "TotalsOut",
    "TradesQuery",
    "UserOut",
    "WithdrawalRequest",
]
