"""The records an accounts shard keeps, and the funds an order must hold.

Invariants:
- ``Balance.free`` and ``Balance.locked`` are never negative.
- For every user and asset, ``locked`` equals the sum of ``Order.locked`` over the user's
  open orders, plus ``OrderList.locked`` over their open lists, that spend that asset
  (buys spend the quote, sells the base).
- An open order always holds at least :func:`required_lock` of its asset; whatever it
  holds beyond that is released as soon as an event shows it (a better price, a fill at a
  lower fee, a cancel).  A closed order holds nothing, whatever its type: a conditional
  order locks by the rules of the limit or market order it becomes, from its placement
  until it ends.
- The legs of an open OCO list hold nothing (``pooled``): the list holds the larger of
  the two legs' needs, once, since at most one leg can ever trade.  The first thing that
  happens to a leg ends the list, and its lock passes to the leg that goes on.  A done
  list holds nothing.
- Fees are charged per order, cumulatively: after each fill the order has paid
  ``ceil(fee_exact / FEE_SCALE)`` quote units in all, where ``fee_exact`` sums notional x
  rate (ppm) over its fills.  Rounding up happens once per order, never per fill, so the
  fee locked up front always covers it.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from actors.accounts.protocol import (
    FillView,
    ListStatus,
    OrderListView,
    OrderStatus,
    OrderView,
    Scope,
)
from actors.engine.messages import PlaceTimeInForce, PlaceType, SelfTradePrevention, Side
from actors.engine.stops import TWIN
from bourse.market import FEE_SCALE, Market
from bourse.money import ceil_div

OPEN_STATUSES = frozenset(("new", "partially_filled"))


class Balance(msgspec.Struct, gc=False, array_like=True):
    free: int = 0
    locked: int = 0


class Order(msgspec.Struct, array_like=True):
    order_id: int
    user_id: int
    client_order_id: str | None
    market: str
    side: Side
    type: PlaceType
    price: int
    qty: int
    quote_qty: int
    time_in_force: PlaceTimeInForce
    post_only: bool
    stp: SelfTradePrevention
    created_at: int
    updated_at: int
    status: OrderStatus = "new"
    filled_qty: int = 0
    filled_quote: int = 0
    fee_exact: int = 0
    fee_paid: int = 0
    locked: int = 0
    pending_amend: tuple[int, int] | None = None
    fills: list[FillView] = msgspec.field(default_factory=list)
    stop_price: int = 0  # conditional orders only
    expire_time: int = 0  # GTD orders only
    triggered: bool = False
    list_id: int = 0  # a leg of an OCO list
    pooled: bool = False  # a leg whose open list holds its funds

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def conditional(self) -> bool:
        return self.type in TWIN

    def view(self) -> OrderView:
        return OrderView(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            market=self.market,
            side=self.side,
            type=self.type,
            price=self.price,
            qty=self.qty,
            quote_qty=self.quote_qty,
            filled_qty=self.filled_qty,
            filled_quote=self.filled_quote,
            fee=self.fee_paid,
            status=self.status,
            time_in_force=self.time_in_force,
            post_only=self.post_only,
            stp=self.stp,
            created_at=self.created_at,
            updated_at=self.updated_at,
            fills=list(self.fills),
            stop_price=self.stop_price,
            expire_time=self.expire_time,
            triggered=self.triggered if self.type in TWIN else None,
            list_id=self.list_id,
        )


class OrderList(msgspec.Struct, array_like=True):
    """An OCO list: open while both legs are untouched, done from the first thing that
    happens to either."""

    list_id: int
    user_id: int
    client_list_id: str | None
    market: str
    side: Side
    limit_id: int
    stop_id: int
    created_at: int
    updated_at: int
    status: ListStatus = "open"
    locked: int = 0

    def other_leg(self, order_id: int) -> int:
        return self.stop_id if order_id == self.limit_id else self.limit_id

    def view(self, leg_view: Callable[[int], OrderView | None]) -> OrderListView:
        """The list with its legs' views (``leg_view`` finds a leg, open or closed)."""
        legs = [view for leg in (self.limit_id, self.stop_id) if (view := leg_view(leg))]
        return OrderListView(
            self.list_id,
            self.client_list_id,
            self.market,
            self.side,
            self.status,
            self.created_at,
            self.updated_at,
            legs,
        )


class ApiKey(msgspec.Struct, gc=False, array_like=True):
    """One of a user's keys, found by the SHA-256 of its secret (the only form stored)."""

    key_id: int
    label: str
    scopes: list[Scope]
    # (IP version, network as an integer, prefix length); empty: any address.
    networks: list[tuple[int, int, int]]
    created_at: int


SIGN_UP_LABEL = "sign-up"


def sign_up_key(now: int) -> ApiKey:
    """A user's first key: every scope, any address."""
    return ApiKey(1, SIGN_UP_LABEL, ["read", "trade", "withdraw", "keys"], [], now)


class User(msgspec.Struct):
    user_id: int
    key_hash: bytes  # the sign-up key of a user from before several keys: see keys.py
    balances: dict[str, Balance] = msgspec.field(default_factory=dict)
    # Open orders only; a closed order lives in the history store (actors/accounts/history.py).
    orders: dict[int, Order] = msgspec.field(default_factory=dict)
    open_orders: dict[int, None] = msgspec.field(default_factory=dict)
    client_ids: dict[str, int] = msgspec.field(default_factory=dict)  # of the open orders
    fills: list[FillView] = msgspec.field(default_factory=list)  # only in older snapshots
    # OCO lists while a leg is open or was closed by the current message (then archived).
    lists: dict[int, OrderList] = msgspec.field(default_factory=dict)
    client_list_ids: dict[str, int] = msgspec.field(default_factory=dict)  # every one used
    cancel_at: int = 0  # when the dead man's switch fires; 0: disarmed
    keys: dict[bytes, ApiKey] = msgspec.field(default_factory=dict)  # by the secret's hash
    next_key: int = 1
    # Every client_order_id of a closed order: with ``client_ids``, every one ever used.
    # A dict, not a set: its order, hence the snapshot's bytes, must not depend on the
    # process's string hashing.
    closed_client_ids: dict[str, None] = msgspec.field(default_factory=dict)

    def used_client_id(self, client_order_id: str) -> bool:
        return client_order_id in self.client_ids or client_order_id in self.closed_client_ids

    def adopt_sign_up_key(self) -> None:
        """A user from a snapshot older than several keys has only ``key_hash``: it
        becomes key 1, as a new user's first key is (done on restore)."""
        if self.key_hash and not self.keys:
            self.keys[self.key_hash] = sign_up_key(0)
            self.key_hash = b""
            self.next_key = max(self.next_key, 2)

    def balance(self, asset: str) -> Balance:
        balance = self.balances.get(asset)
        if balance is None:
            balance = self.balances[asset] = Balance()
        return balance


def spends(order: Order, market: Market) -> str:
    """The asset an order locks: the quote for a buy, the base for a sell."""
    return market.quote if order.side == "buy" else market.base


def required_lock(order: Order, market: Market) -> int:
    """What an open order must hold so that every fill it may still get is paid for."""
    if not order.is_open or order.pooled:
        return 0
    need = _required_for(order, market, order.price, order.qty)
    if order.pending_amend is not None:
        price, qty = order.pending_amend
        need = max(need, _required_for(order, market, price, qty))
    return need


def _required_for(order: Order, market: Market, price: int, qty: int) -> int:
    if order.side == "sell":
        return qty - order.filled_qty
    if order.quote_qty:
        budget = order.quote_qty - order.filled_quote
    else:
        budget = market.notional(price, qty - order.filled_qty)
    fee_cap = ceil_div(order.fee_exact + budget * market.max_fee_ppm, FEE_SCALE) - order.fee_paid
    return budget + fee_cap


def initial_lock(market: Market, side: Side, price: int, qty: int, quote_qty: int) -> int:
    """What a new order must lock before it goes to the engine."""
    if side == "sell":
        return qty
    budget = quote_qty or market.notional(price, qty)
    return budget + ceil_div(budget * market.max_fee_ppm, FEE_SCALE)
