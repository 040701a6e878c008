"""What a matching engine takes in and gives out.

Invariants:
- Commands and events are frozen, tagged msgspec Structs (``gc=False``: they hold no
  cycles), so one Encoder/Decoder pair carries them over the wire and into the journal.
- Every amount is an ``int``: prices in quote units per whole base unit, quantities in
  base units, quote amounts in quote units.  ``0`` means "not given" where a field is
  optional (a market order's price, an amend that keeps the quantity).
- Public events (:class:`Trade`, :class:`LevelChanged`) carry ``seq``: the market's
  sequence number, contiguous from 1 across both kinds, so a subscriber can tell a gap.
  Private events (:class:`Accepted`, :class:`Rejected`, :class:`Done`, :class:`Amended`)
  concern one order and go only to the accounts shards involved.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market"]
TimeInForce = Literal["GTC", "IOC", "FOK"]
SelfTradePrevention = Literal["expire_taker", "expire_maker", "expire_both"]
DoneStatus = Literal["filled", "cancelled", "expired"]


class _Message(msgspec.Struct, frozen=True, gc=False, tag_field="t"):
    pass


# --- commands ---------------------------------------------------------------------------


class Place(_Message, tag="place", frozen=True):
    """A new order.  A limit order gives ``price`` and ``qty``.  A market sell gives
    ``qty``; a market buy gives ``quote_qty`` (spend at most this), or ``qty`` with
    ``price`` as the worst price it accepts."""

    order_id: int
    user_id: int
    side: Side
    type: OrderType
    price: int
    qty: int
    quote_qty: int = 0
    time_in_force: TimeInForce = "GTC"
    post_only: bool = False
    stp: SelfTradePrevention = "expire_taker"


class Cancel(_Message, tag="cancel", frozen=True):
    order_id: int
    user_id: int


class CancelAll(_Message, tag="cancel_all", frozen=True):
    user_id: int


class Amend(_Message, tag="amend", frozen=True):
    """Change a resting order: ``qty`` is the new total quantity (0 keeps it), ``price``
    the new price (0 keeps it).  A smaller quantity at the same price keeps priority;
    anything else re-queues the order as if placed now."""

    order_id: int
    user_id: int
    qty: int = 0
    price: int = 0


class Halt(_Message, tag="halt", frozen=True):
    """Stop taking new orders; cancels still work."""


class Resume(_Message, tag="resume", frozen=True):
    pass


Command = Place | Cancel | CancelAll | Amend | Halt | Resume


# --- events -----------------------------------------------------------------------------


class Accepted(_Message, tag="accepted", frozen=True):
    order_id: int
    user_id: int


class Rejected(_Message, tag="rejected", frozen=True):
    order_id: int
    user_id: int
    reason: str


class Trade(_Message, tag="trade", frozen=True):
    seq: int
    trade_id: int
    price: int
    qty: int
    taker_side: Side
    maker_order_id: int
    maker_user_id: int
    taker_order_id: int
    taker_user_id: int


class Done(_Message, tag="done", frozen=True):
    """The order left the book or never rested: ``remaining`` base units did not trade."""

    order_id: int
    user_id: int
    status: DoneStatus
    remaining: int


class Amended(_Message, tag="amended", frozen=True):
    order_id: int
    user_id: int
    price: int
    qty: int
    remaining: int


class LevelChanged(_Message, tag="level", frozen=True):
    """The total resting at ``price`` on ``side`` is now ``total`` (0: the level is gone)."""

    seq: int
    side: Side
    price: int
    total: int


Event = Accepted | Rejected | Trade | Done | Amended | LevelChanged

# Stable rejection reasons.
UNKNOWN_ORDER = "ORDER_NOT_FOUND"
DUPLICATE_ORDER_ID = "DUPLICATE_ORDER_ID"
INVALID_ORDER = "INVALID_ORDER"
POST_ONLY_WOULD_TAKE = "POST_ONLY_WOULD_TAKE"
MARKET_HALTED = "MARKET_HALTED"
AMEND_BELOW_FILLED = "AMEND_BELOW_FILLED"
