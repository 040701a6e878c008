"""What crosses an accounts shard's ROUTER: requests from gateways and feeds, answers.

Invariants:
- Every amount is an ``int`` of the asset's smallest unit; the gateway turns decimal
  strings into units (and back) with the market's rules, the shard checks them again.
- Every private request carries :class:`Auth`: the user id (which names this shard) and
  the SHA-256 of the API key's secret; the shard answers UNAUTHENTICATED unless it
  matches.  ``Auth`` with ``admin=True`` is sent only by a gateway that checked the
  operator's admin key.
- An :class:`ErrorReply` carries the HTTP status the gateway answers with, a stable
  ``code`` and, when one input is at fault, its ``field``.
- A batch is one request, journaled once: :class:`PlaceBatch` holds 1 to ``MAX_BATCH``
  :class:`PlaceOrder` requests of its own user, :class:`CancelBatch` 1 to
  ``MAX_CANCEL_BATCH`` order ids; its :class:`BatchReply` holds one answer per item, in
  the items' order.
- Fields added since the first version have defaults, so older journals decode unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from actors.engine.messages import PlaceTimeInForce, PlaceType, SelfTradePrevention, Side
from actors.replication import PairStatus

OrderStatus = Literal["new", "partially_filled", "filled", "cancelled", "expired", "rejected"]
ListStatus = Literal["open", "done"]
Liquidity = Literal["maker", "taker"]
Scope = Literal["read", "trade", "withdraw", "keys"]
SCOPES: tuple[Scope, ...] = ("read", "trade", "withdraw", "keys")
MAX_BATCH = 20
MAX_CANCEL_BATCH = 100


class _Message(msgspec.Struct, frozen=True, gc=False, tag_field="t"):
    pass


class _Request(_Message, frozen=True, forbid_unknown_fields=True):
    """A request is journaled as received: a field it does not know refuses it whole, so
    no padding ever reaches a journal."""


class Auth(msgspec.Struct, frozen=True, gc=False, array_like=True, forbid_unknown_fields=True):
    user_id: int
    key_hash: bytes
    admin: bool = False
    # The client's IP address, packed (4 or 16 bytes; empty when unknown): a key with
    # allowed_ips serves only the addresses they hold.
    address: bytes = b""


# --- requests ---------------------------------------------------------------------------------


class CreateUser(_Request, tag="create_user", frozen=True):
    secret_hash: bytes


class Authenticate(_Request, tag="authenticate", frozen=True):
    auth: Auth


class Deposit(_Request, tag="deposit", frozen=True):
    auth: Auth
    asset: str
    amount: int


class Withdraw(_Request, tag="withdraw", frozen=True):
    auth: Auth
    asset: str
    amount: int


class GetBalances(_Request, tag="balances", frozen=True):
    auth: Auth


class PlaceOrder(_Request, tag="place", frozen=True):
    """A conditional order (``stop_*``, ``take_profit_*``) gives ``stop_price`` and is
    sized like its limit or market twin; a GTD order gives ``expire_time`` (ms)."""

    auth: Auth
    market: str
    side: Side
    type: PlaceType
    price: int = 0
    qty: int = 0
    quote_qty: int = 0
    time_in_force: PlaceTimeInForce = "GTC"
    post_only: bool = False
    client_order_id: str | None = None
    stp: SelfTradePrevention = "expire_taker"
    stop_price: int = 0
    expire_time: int = 0
    deadline: int = 0  # ms on the gateway's clock: refused once past it (0: none)


class PlaceOrderList(_Request, tag="place_list", frozen=True):
    """An OCO list: a limit leg at ``price`` and a stop leg at ``stop_price``, a
    stop-limit one at ``stop_limit_price``, or a stop-market one when that is 0 (a sell
    only: a buy by quantity needs a worst price to lock its funds)."""

    auth: Auth
    market: str
    side: Side
    qty: int
    price: int
    stop_price: int
    stop_limit_price: int = 0
    time_in_force: Literal["GTC", "GTD"] = "GTC"
    expire_time: int = 0
    client_list_id: str | None = None
    stp: SelfTradePrevention = "expire_taker"
    deadline: int = 0  # ms on the gateway's clock: refused once past it (0: none)


class GetOrderList(_Request, tag="get_list", frozen=True):
    auth: Auth
    list_id: int


class CancelOrderList(_Request, tag="cancel_list", frozen=True):
    auth: Auth
    list_id: int
    deadline: int = 0  # ms on the gateway's clock: refused once past it (0: none)


class PlaceBatch(_Request, tag="place_batch", frozen=True):
    """Each item stands alone; each must carry the batch's own ``auth``."""

    auth: Auth
    orders: Annotated[list[PlaceOrder], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]
    deadline: int = 0  # ms on the gateway's clock: refused once past it (0: none)


class CancelBatch(_Request, tag="cancel_batch", frozen=True):
    auth: Auth
    order_ids: Annotated[list[int], msgspec.Meta(min_length=1, max_length=MAX_CANCEL_BATCH)]
    deadline: int = 0  # ms on the gateway's clock: refused once past it (0: none)


class CancelAfter(_Request, tag="cancel_after", frozen=True):
    """Arm the dead man's switch ``timeout_ms`` from now (0 disarms it)."""

    auth: Auth
    timeout_ms: int


class CancelOrder(_Request, tag="cancel", frozen=True):
    auth: Auth
    order_id: int
    deadline: int = 0  # ms on the gateway's clock: refused once past it (0: none)


class CancelOrders(_Request, tag="cancel_all", frozen=True):
    auth: Auth
    market: str | None = None
    deadline: int = 0  # ms on the gateway's clock: refused once past it (0: none)


class AmendOrder(_Request, tag="amend", frozen=True):
    auth: Auth
    order_id: int
    qty: int = 0
    price: int = 0
    deadline: int = 0  # ms on the gateway's clock: refused once past it (0: none)


class GetOrder(_Request, tag="get_order", frozen=True):
    auth: Auth
    order_id: int | None = None
    client_order_id: str | None = None
    # The scope the read is part of: "trade" when the gateway reads an order to amend it
    # (the answer then goes to the amend, never to the client).
    scope: Literal["read", "trade"] = "read"


class ListOrders(_Request, tag="list_orders", frozen=True):
    auth: Auth
    market: str | None = None
    open_only: bool = True
    limit: int = 100
    # Paging (API.md "History without gaps"): ids >= from_id oldest first, else newest
    # first; times inclusive.
    from_id: int | None = None
    start: int | None = None
    end: int | None = None


class ListFills(_Request, tag="list_fills", frozen=True):
    auth: Auth
    market: str | None = None
    limit: int = 100
    from_id: int | None = None
    start: int | None = None
    end: int | None = None


class CreateKey(_Request, tag="create_key", frozen=True):
    auth: Auth
    secret_hash: bytes
    label: str
    scopes: list[Scope]
    allowed_ips: list[str] = msgspec.field(default_factory=list)


class ListKeys(_Request, tag="list_keys", frozen=True):
    auth: Auth


class RevokeKey(_Request, tag="revoke_key", frozen=True):
    auth: Auth
    key_id: int


class GetTotals(_Request, tag="totals", frozen=True):
    auth: Auth


class GetStatus(_Request, tag="status", frozen=True):
    pass


AccountsRequest = (
    CreateUser
    | Authenticate
    | Deposit
    | Withdraw
    | GetBalances
    | PlaceOrder
    | CancelOrder
    | CancelOrders
    | AmendOrder
    | GetOrder
    | ListOrders
    | ListFills
    | GetTotals
    | GetStatus
    | PlaceOrderList
    | GetOrderList
    | CancelOrderList
    | PlaceBatch
    | CancelBatch
    | CancelAfter
    | CreateKey
    | ListKeys
    | RevokeKey
)


# --- views and replies ------------------------------------------------------------------------


class BalanceView(msgspec.Struct, frozen=True, gc=False):
    asset: str
    free: int
    locked: int


class FillView(msgspec.Struct, frozen=True, gc=False):
    trade_id: int
    order_id: int
    market: str
    side: Side
    price: int
    qty: int
    fee: int
    fee_asset: str
    liquidity: Liquidity
    time: int
    # The shard's own number for the fill: it grows with time within a shard, so paging
    # by it sees every fill once (trade ids are per market).
    fill_id: int = 0


class OrderView(msgspec.Struct, frozen=True, gc=False):
    """``triggered`` is None for an order without a stop; ``stop_price``,
    ``expire_time`` and ``list_id`` are 0 when the order has none."""

    order_id: int
    client_order_id: str | None
    market: str
    side: Side
    type: PlaceType
    price: int
    qty: int
    quote_qty: int
    filled_qty: int
    filled_quote: int
    fee: int
    status: OrderStatus
    time_in_force: PlaceTimeInForce
    post_only: bool
    stp: SelfTradePrevention
    created_at: int
    updated_at: int
    fills: list[FillView]
    stop_price: int = 0
    expire_time: int = 0
    triggered: bool | None = None
    list_id: int = 0


class OrderListView(msgspec.Struct, frozen=True, gc=False):
    """``orders`` is the limit leg, then the stop leg."""

    list_id: int
    client_list_id: str | None
    market: str
    side: Side
    status: ListStatus
    created_at: int
    updated_at: int
    orders: list[OrderView]


class AssetTotals(msgspec.Struct, frozen=True, gc=False):
    asset: str
    free: int
    locked: int
    fees: int
    deposits: int
    withdrawals: int
    traded_in: int
    traded_out: int


class ErrorReply(_Message, tag="error", frozen=True):
    status: int
    code: str
    message: str
    field: str | None = None


class UserCreated(_Message, tag="user_created", frozen=True):
    user_id: int


class Authenticated(_Message, tag="authenticated", frozen=True):
    user_id: int
    key_id: int = 0
    scopes: list[Scope] = msgspec.field(default_factory=list)


class KeyView(msgspec.Struct, frozen=True, gc=False):
    key_id: int
    label: str
    scopes: list[Scope]
    allowed_ips: list[str]
    created_at: int


class KeyReply(_Message, tag="key", frozen=True):
    key: KeyView


class KeysReply(_Message, tag="keys", frozen=True):
    keys: list[KeyView]


class BalancesReply(_Message, tag="balances", frozen=True):
    balances: list[BalanceView]


class OrderReply(_Message, tag="order", frozen=True):
    order: OrderView


class OrdersReply(_Message, tag="orders", frozen=True):
    orders: list[OrderView]


class FillsReply(_Message, tag="fills", frozen=True):
    fills: list[FillView]


class OrderListReply(_Message, tag="order_list", frozen=True):
    order_list: OrderListView


class BatchReply(_Message, tag="batch", frozen=True):
    results: list[OrderReply | ErrorReply]


class SwitchReply(_Message, tag="switch", frozen=True):
    """The dead man's switch as armed: None when it is off."""

    now: int
    trigger_time: int | None


class TotalsReply(_Message, tag="totals", frozen=True):
    shard: int
    users: int
    open_orders: int
    assets: list[AssetTotals]


class ShardStatus(_Message, tag="status", frozen=True):
    shard: int
    users: int
    open_orders: int
    commands: int
    engine_in_seq: dict[str, int]
    engine_out_seq: dict[str, int]
    pending_requests: int
    # Market -> whether this shard's link to its engine is connected right now.
    engines_up: dict[str, bool] = msgspec.field(default_factory=dict)
    pair: PairStatus | None = None


AccountsReply = (
    UserCreated
    | Authenticated
    | BalancesReply
    | OrderReply
    | OrdersReply
    | FillsReply
    | TotalsReply
    | ShardStatus
    | ErrorReply
    | OrderListReply
    | BatchReply
    | SwitchReply
    | KeyReply
    | KeysReply
)


# --- private events on the shard's PUB socket (topic ``<kind>.<user_id>``) ---------------------


class OrderEvent(_Message, tag="order", frozen=True):
    user_id: int
    order: OrderView


class FillEvent(_Message, tag="fill", frozen=True):
    user_id: int
    fill: FillView


class BalanceEvent(_Message, tag="balance", frozen=True):
    user_id: int
    balance: BalanceView


class KeyRevoked(_Message, tag="key_revoked", frozen=True):
    """On ``keys.<shard>``: a key stopped working.  Whoever holds a session opened with
    it (the feed's private channels) ends that session."""

    user_id: int
    key_id: int
    revocations: int  # the shard's count of revocations, this one included


class KeysHeard(_Message, tag="keys_heard", frozen=True):
    """On ``keys.<shard>`` every second: how many revocations the shard has made, so a
    listener that missed one (a dropped message, a restart) learns it did."""

    shard: int
    revocations: int


PrivateEvent = OrderEvent | FillEvent | BalanceEvent | KeyRevoked | KeysHeard
