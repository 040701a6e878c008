"""What a matching engine takes in and gives out.

Invariants:
- Commands and events are frozen, tagged msgspec Structs (``gc=False``: they hold no
  cycles), so one Encoder/Decoder pair carries them over the wire and into the journal.
- Every amount is an ``int``: prices in quote units per whole base unit, quantities in
  base units, quote amounts in quote units.  ``0`` means "not given" where a field is
  optional (a market order's price, an amend that keeps the quantity, the stop price of
  an order that has none, the expiry of an order that is not GTD).
- Times are integer milliseconds since the Unix epoch, stamped by the engine's actor; no
  message carries "now": the engine is told it beside each command.
- Fields added since the first version have defaults, so older senders and older
  journals decode unchanged.
- Public events (:class:`Trade`, :class:`LevelChanged`) carry ``seq``: the market's
  sequence number, contiguous from 1 across both kinds, so a subscriber can tell a gap.
  Private events (:class:`Accepted`, :class:`Rejected`, :class:`Done`, :class:`Amended`,
  :class:`Triggered`) concern one order and go only to the accounts shards involved.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

Side = Literal["buy", "sell"]
# An order that trades as it is, and the times in force of one that does not wait: what
# the accounts shard sends today.
OrderType = Literal["limit", "market"]
TimeInForce = Literal["GTC", "IOC", "FOK"]
# What the engine takes on top: conditional orders, and GTD.
ConditionalType = Literal["stop_limit", "stop_market", "take_profit_limit", "take_profit_market"]
PlaceType = OrderType | ConditionalType
PlaceTimeInForce = TimeInForce | Literal["GTD"]
SelfTradePrevention = Literal["expire_taker", "expire_maker", "expire_both"]
DoneStatus = Literal["filled", "cancelled", "expired"]
MarketStatus = Literal["trading", "halted", "cancel_only", "post_only"]
RejectReason = Literal[
    "ORDER_NOT_FOUND",
    "DUPLICATE_ORDER_ID",
    "INVALID_ORDER",
    "POST_ONLY_WOULD_TAKE",
    "MARKET_HALTED",
    "MARKET_CANCEL_ONLY",
    "AMEND_BELOW_FILLED",
    "ORDER_NOT_AMENDABLE",
    "WOULD_TRIGGER_IMMEDIATELY",
    "EXPIRED",  # the request came past its deadline: refused, never applied
]


class _Message(msgspec.Struct, frozen=True, gc=False, tag_field="t", forbid_unknown_fields=True):
    """Commands and events are journaled as received (in requests and reports): a field
    a message does not know refuses it whole, so no padding reaches a journal."""


# --- commands ---------------------------------------------------------------------------


class Place(_Message, tag="place", frozen=True):
    """A new order.  A limit order gives ``price`` and ``qty``.  A market sell gives
    ``qty``; a market buy gives ``quote_qty`` (spend at most this), or ``qty`` with
    ``price`` as the worst price it accepts.

    A conditional order (``stop_*``, ``take_profit_*``) also gives ``stop_price`` and is
    sized and priced like the limit or market order it becomes once triggered.  A GTD
    order gives ``expire_time``, after the time it is placed at."""

    order_id: int
    user_id: int
    side: Side
    type: PlaceType
    price: int
    qty: int
    quote_qty: int = 0
    time_in_force: PlaceTimeInForce = "GTC"
    post_only: bool = False
    stp: SelfTradePrevention = "expire_taker"
    stop_price: int = 0
    expire_time: int = 0


class PlaceList(_Message, tag="place_list", frozen=True):
    """An OCO list: ``limit`` (a limit order) and ``stop`` (a stop-limit or stop-market
    order) of one user, one side, one time in force and one expiry.  The first thing
    that happens to either leg (a trade, its trigger, a cancel, an expiry) ends the list
    and cancels the other leg.  Both legs are accepted or both refused."""

    list_id: int
    limit: Place
    stop: Place


class Cancel(_Message, tag="cancel", frozen=True):
    order_id: int
    user_id: int


class CancelAll(_Message, tag="cancel_all", frozen=True):
    user_id: int


class CancelList(_Message, tag="cancel_list", frozen=True):
    """Cancel both legs of a live OCO list."""

    list_id: int
    user_id: int


class Amend(_Message, tag="amend", frozen=True):
    """Change a resting order: ``qty`` is the new total quantity (0 keeps it), ``price``
    the new price (0 keeps it).  A smaller quantity at the same price keeps priority;
    anything else re-queues the order as if placed now."""

    order_id: int
    user_id: int
    qty: int = 0
    price: int = 0


class SetStatus(_Message, tag="set_status", frozen=True):
    """An operator's change of the market's status (what each one allows: engine.py)."""

    status: MarketStatus


class Halt(_Message, tag="halt", frozen=True):
    """``SetStatus("halted")``, kept so that older journals replay."""


class Resume(_Message, tag="resume", frozen=True):
    """``SetStatus("trading")``, kept so that older journals replay."""


class Tick(_Message, tag="tick", frozen=True):
    """Nothing but the passing of time: the orders whose expiry is due expire."""


Command = (
    Place | Cancel | CancelAll | Amend | PlaceList | CancelList | SetStatus | Halt | Resume | Tick
)


# --- events -----------------------------------------------------------------------------


class Accepted(_Message, tag="accepted", frozen=True):
    order_id: int
    user_id: int


class Rejected(_Message, tag="rejected", frozen=True):
    """The command changed nothing.  For a :class:`CancelList` ``order_id`` names the
    list; a refused :class:`PlaceList` gets one Rejected per leg."""

    order_id: int
    user_id: int
    reason: RejectReason


class Triggered(_Message, tag="triggered", frozen=True):
    """A trade crossed a conditional order's stop: from now on it is the limit or market
    order it names (same order id), matched once the trade's taker has finished."""

    order_id: int
    user_id: int


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


Event = Accepted | Rejected | Trade | Done | Amended | Triggered | LevelChanged

# Stable rejection reasons, by name.
UNKNOWN_ORDER: Final[RejectReason] = "ORDER_NOT_FOUND"
DUPLICATE_ORDER_ID: Final[RejectReason] = "DUPLICATE_ORDER_ID"
INVALID_ORDER: Final[RejectReason] = "INVALID_ORDER"
POST_ONLY_WOULD_TAKE: Final[RejectReason] = "POST_ONLY_WOULD_TAKE"
MARKET_HALTED: Final[RejectReason] = "MARKET_HALTED"
MARKET_CANCEL_ONLY: Final[RejectReason] = "MARKET_CANCEL_ONLY"
AMEND_BELOW_FILLED: Final[RejectReason] = "AMEND_BELOW_FILLED"
NOT_AMENDABLE: Final[RejectReason] = "ORDER_NOT_AMENDABLE"
WOULD_TRIGGER_IMMEDIATELY: Final[RejectReason] = "WOULD_TRIGGER_IMMEDIATELY"
