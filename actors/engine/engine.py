"""The matching engine of one market: a pure state machine, commands in, events out.

Invariants (checked by tests/engine after every command of long random streams):
- Price-time priority: a taker meets the best opposite price first and, within a price,
  the oldest order first; the trade price is always the resting order's price.
- After any command the book is not crossed: best bid < best ask.
- No order trades past its quantity; each trade takes the same quantity from a buyer and
  a seller.  A buy sized in quote never spends more than its ``quote_qty``.
- Sequence numbers: ``seq`` grows by one for each public event (Trade, LevelChanged);
  ``trade_id`` by one for each trade.  Nothing here reads a clock, draws a random number
  or touches I/O: time comes in as the ``now`` given to :meth:`MatchingEngine.apply`
  beside each command (the time the actor stamped on its turn) and never goes back, so
  the same commands at the same times give the same events and the same state hash.
- Every command gets an answer: a placed order gets Accepted (then trades, and Done or a
  resting LevelChanged, or nothing more while it waits untriggered) or Rejected; a
  cancel gets Done or Rejected.
- After ``apply(command, now)`` no order (resting or untriggered) has ``expire_time <=
  now``, and no untriggered order's condition holds against ``last_price``.
- An OCO list is live exactly while both its legs are live and untouched.

Market statuses (``SetStatus``; ``Halt`` and ``Resume`` are ``halted`` and ``trading``):
- ``trading``: everything below.
- ``halted``: new orders, lists and amends that would re-queue are refused
  MARKET_HALTED; cancels, cancel-all, list cancels and amends that only reduce a
  quantity still work.  ``cancel_only``: the same, refused MARKET_CANCEL_ONLY.
- ``post_only``: whatever would take now is refused POST_ONLY_WOULD_TAKE: a limit
  order, a list's limit leg or a re-queueing amend that crosses, and any market order.
  What does not cross rests (or, IOC and FOK, expires untraded); conditional orders are
  accepted and wait.
- Expiry runs under every status.  Only a trade triggers an order, and only ``trading``
  lets anything trade, so under the other statuses untriggered orders wait; the first
  trades after trading resumes trigger whatever they cross.  A triggered order is
  therefore always matched under the rules of ``trading``.

Conditional orders (``stop_*``, ``take_profit_*``; see stops.py for which way each one
triggers) wait outside the book: no level, no depth, no LevelChanged.  One refused at
placement because its condition already holds against ``last_price`` gets
WOULD_TRIGGER_IMMEDIATELY; before the market's first trade nothing triggers.  Amending
one, or a leg of a live list, is refused ORDER_NOT_AMENDABLE.

Trigger order.  A taker's sweep moves the last price along a path: from the previous
last price to the sweep's first trade price, then on to its last trade price, always the
same way (a buy sweeps up the asks, a sell down the bids).  Only when the sweep has
finished (the taker rests or is done), the orders whose stops the path crossed trigger,
in the order the path crossed them: closest to the previous last price first, and by
arrival within one stop price.  For a buy sweep that is the falls at or above its first
price (highest stop first), then the rises at or below its last price (lowest first); a
sell sweep the mirror: the rises at or below its first price, then the falls at or above
its last price.  (No untriggered order's condition holds against the previous last
price, so this is exactly the path's order; before the first trade the same rule
defines it.)  Each gets Triggered, and then each is matched in that order as the limit or
market order it names, without a new Accepted; its own sweep may trigger more, matched
after those already waiting.  The cascade ends because an order triggers once.

GTD orders expire when ``now`` reaches their ``expire_time`` (which must be after the
time they are placed at): before a command is applied, every order due at its ``now``
expires, soonest first, then by order id; ``Tick`` applies nothing else.

OCO lists (``PlaceList``): a limit leg and a stop leg (stop-limit or stop-market), one
user, one side, one time in force (GTC or GTD, with one expiry).  The first thing that
happens to either leg ends the list: a trade of the limit leg (even partial, as maker or
taker), the trigger of the stop leg, a cancel of either (or ``CancelList``) or
self-trade prevention: the other leg gets Done "cancelled"; an expiry expires both.
A list is refused whole, both legs Rejected with the first reason met: the list's own
rules (a new list id, two order ids not live, the shape above), then the stop leg's and
then the limit leg's as orders of their own; so a list whose stop leg would trigger at
once gets WOULD_TRIGGER_IMMEDIATELY.  Its limit leg may take at once, which ends the
list.

Event order for one command: first the expiries due at its ``now`` (each Done
"expired", then the LevelChanged when it rested, then its list's other leg); then
Accepted (both legs' for a list), or Amended followed by the LevelChanged that takes the
order out of its old level; then level by level in priority order, for each maker met
its Trade (or its Done "expired" when self-trade prevention removes it) and its Done
"filled" once empty, then that level's LevelChanged; then the taker's own Done or its
resting LevelChanged.  Then come the lists the sweep ended (their other legs' Done, in
the order the sweep touched them), the Triggered of each order it triggered (each
followed by the cancel of its list's limit leg), and last the triggered orders' own
sweeps, each laid out the same way.  A buy sized in quote ends with Done
"filled" when it spent some of its budget and what is left cannot pay for another lot,
else Done "expired"; its ``remaining`` is 0 either way.
"""

from __future__ import annotations

import hashlib
from typing import Final

import msgspec

from actors.engine.book import BookSide, Level, RestingOrder
from actors.engine.expiry import ExpiryIndex
from actors.engine.messages import (
    AMEND_BELOW_FILLED,
    DUPLICATE_ORDER_ID,
    INVALID_ORDER,
    MARKET_CANCEL_ONLY,
    MARKET_HALTED,
    NOT_AMENDABLE,
    POST_ONLY_WOULD_TAKE,
    UNKNOWN_ORDER,
    WOULD_TRIGGER_IMMEDIATELY,
    Accepted,
    Amend,
    Amended,
    Cancel,
    CancelAll,
    CancelList,
    Command,
    Done,
    DoneStatus,
    Event,
    Halt,
    LevelChanged,
    MarketStatus,
    Place,
    PlaceList,
    Rejected,
    RejectReason,
    Resume,
    SelfTradePrevention,
    SetStatus,
    Side,
    Tick,
    Trade,
    Triggered,
)
from actors.engine.stops import TWIN, StopBook, would_trigger

_NO_LIMIT_BUY = 2**63  # a market buy without a worst price accepts any price
# Per order type: whether it is (or becomes) a limit order, and whether it is conditional.
_KINDS: Final[dict[str, tuple[bool, bool]]] = {
    "limit": (True, False),
    "market": (False, False),
    "stop_limit": (True, True),
    "stop_market": (False, True),
    "take_profit_limit": (True, True),
    "take_profit_market": (False, True),
}
# What a status that takes no new orders answers them.
_REFUSED: Final[dict[str, RejectReason]] = {
    "halted": MARKET_HALTED,
    "cancel_only": MARKET_CANCEL_ONLY,
}


class SnapshotOrder(msgspec.Struct, frozen=True, gc=False, array_like=True):
    order_id: int
    user_id: int
    side: Side
    price: int
    qty: int
    remaining: int
    post_only: bool
    stp: SelfTradePrevention
    expire_time: int = 0


class OcoList(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A live OCO list: the ids of its limit leg and of its stop leg."""

    list_id: int
    user_id: int
    limit_id: int
    stop_id: int


class EngineSnapshot(msgspec.Struct, frozen=True, gc=False):
    """The whole state; orders listed bids then asks, best price first, oldest first;
    untriggered orders in trigger order (rises, then falls); lists by id.  ``status`` is
    None only in a snapshot older than statuses, whose ``halted`` then says it."""

    market: str
    seq: int
    trade_id: int
    halted: bool
    orders: list[SnapshotOrder]
    status: MarketStatus | None = None
    now: int = 0
    last_price: int = 0
    untriggered: list[Place] = []
    lists: list[OcoList] = []


_snapshot_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(EngineSnapshot)


class MatchingEngine:
    def __init__(self, market: str, tick: int, lot: int, base_scale: int) -> None:
        self.market = market
        self.tick = tick
        self.lot = lot
        self.base_scale = base_scale
        self.bids = BookSide("buy")
        self.asks = BookSide("sell")
        self.orders: dict[int, RestingOrder] = {}
        self.seq = 0
        self.trade_id = 0
        self._status: MarketStatus = "trading"
        self._open = True  # whether the status takes new orders (read on every place)
        self.now = 0
        self.last_price = 0  # 0: no trade yet
        self.stops = StopBook()
        self.expiry = ExpiryIndex()
        self.lists: dict[int, OcoList] = {}
        self._legs: dict[int, OcoList] = {}  # order id of each leg of a live list
        # Orders triggered during the current command, waiting to be matched in order.
        self._triggered: list[Place] = []
        self._matching_triggered = False
        self._waiting = self.stops.orders  # the same dict, one attribute nearer

    @property
    def status(self) -> MarketStatus:
        return self._status

    @status.setter
    def status(self, status: MarketStatus) -> None:
        self._status = status
        self._open = status == "trading" or status == "post_only"

    @property
    def halted(self) -> bool:
        return self._status == "halted"

    def next_expiry(self) -> int | None:
        """When the next GTD order expires, or None."""
        first = self.expiry.first()
        return None if first is None else first[0]

    # --- commands -----------------------------------------------------------------------

    def apply(self, command: Command, now: int = 0) -> list[Event]:
        """Apply ``command`` at time ``now``: the orders due by then expire first.  An
        earlier ``now`` than the last one (or none) leaves the time as it is."""
        if now > self.now:
            self.now = now
            first = self.expiry.first()
            if first is not None and first[0] <= now:
                expired = self._expire(now)
                expired += self.apply(command)
                return expired
        # Exact type tests, most frequent first: much cheaper than class patterns.
        kind = type(command)
        if kind is Place:
            return self._place(command)  # type: ignore[arg-type]
        if kind is Cancel:
            return self._cancel(command)  # type: ignore[arg-type]
        if kind is Amend:
            return self._amend(command)  # type: ignore[arg-type]
        if kind is CancelAll:
            return self._cancel_all(command)  # type: ignore[arg-type]
        if kind is PlaceList:
            return self._place_list(command)  # type: ignore[arg-type]
        if kind is CancelList:
            return self._cancel_list(command)  # type: ignore[arg-type]
        if kind is Tick:
            return []
        if kind is SetStatus:
            self.status = command.status  # type: ignore[union-attr]
            return []
        if kind is Halt:
            self.status = "halted"
            return []
        if kind is Resume:
            self.status = "trading"
            return []
        raise TypeError(f"not an engine command: {command!r}")

    def _place(self, cmd: Place) -> list[Event]:
        """Check and place ``cmd``: the one way in for an order, so a list's legs come
        through here, and so do triggered orders as the orders they name (their callers
        drop the Accepted)."""
        order_id = cmd.order_id
        user_id = cmd.user_id
        if not self._open:
            return [Rejected(order_id, user_id, _REFUSED[self.status])]
        orders = self.orders
        if order_id in orders or order_id in self._waiting:
            return [Rejected(order_id, user_id, DUPLICATE_ORDER_ID)]
        kind = cmd.type
        is_limit, conditional = _KINDS[kind]
        price = cmd.price
        tif = cmd.time_in_force
        if is_limit:
            qty = cmd.qty
            invalid = (
                price <= 0
                or price % self.tick != 0
                or qty <= 0
                or qty % self.lot != 0
                or cmd.quote_qty != 0
                or (cmd.post_only and tif != "GTC" and tif != "GTD")
            )
        else:
            invalid = self._invalid_market(cmd)
        if conditional:
            stop = cmd.stop_price
            invalid = invalid or stop <= 0 or stop % self.tick != 0 or cmd.post_only
        elif cmd.stop_price:
            invalid = True
        expire_time = cmd.expire_time
        if expire_time:
            invalid = invalid or tif != "GTD" or expire_time <= self.now
        elif tif == "GTD":
            invalid = True
        if invalid:
            return [Rejected(order_id, user_id, INVALID_ORDER)]
        if conditional:
            if would_trigger(cmd, self.last_price):
                return [Rejected(order_id, user_id, WOULD_TRIGGER_IMMEDIATELY)]
            self._wait(cmd)
            return [Accepted(order_id, user_id)]
        side = cmd.side
        if side == "buy":
            own = self.bids
            top = self.asks.top
            limit = price if is_limit else price or _NO_LIMIT_BUY
            crosses = top is not None and top.price <= limit
        else:
            own = self.asks
            top = self.bids.top
            limit = price if is_limit else 0
            crosses = top is not None and top.price >= limit
        if not crosses:
            if is_limit and (tif == "GTC" or tif == "GTD"):
                # The common case: a passive order rests at once (``qty`` as checked).
                order = RestingOrder(
                    order_id, user_id, side, price, qty, qty, cmd.post_only, cmd.stp, expire_time
                )
                orders[order_id] = order
                level = own.append(order)
                if expire_time:
                    self.expiry.add(expire_time, order_id)
                self.seq = seq = self.seq + 1
                return [Accepted(order_id, user_id), LevelChanged(seq, side, price, level.total)]
            if not is_limit and self._status == "post_only":
                return [Rejected(order_id, user_id, POST_ONLY_WOULD_TAKE)]
            return [Accepted(order_id, user_id), Done(order_id, user_id, "expired", cmd.qty)]
        if cmd.post_only or self._status == "post_only":
            return [Rejected(order_id, user_id, POST_ONLY_WOULD_TAKE)]
        events: list[Event] = [Accepted(order_id, user_id)]
        if tif == "FOK" and not self._can_fill(cmd, limit):
            events.append(Done(order_id, user_id, "expired", cmd.qty))
            return events
        order = RestingOrder(
            order_id, user_id, side, price, cmd.qty, cmd.qty, cmd.post_only, cmd.stp, expire_time
        )
        rests = is_limit and (tif == "GTC" or tif == "GTD")
        self._take(order, limit, cmd.quote_qty, rests, events)
        if self._triggered and not self._matching_triggered:
            self._match_triggered(events)
        return events

    def _invalid_market(self, cmd: Place) -> bool:
        """Whether ``cmd`` breaks a rule of a market order (its type, stop and expiry
        aside)."""
        price = cmd.price
        if price < 0 or price % self.tick != 0 or cmd.post_only:
            return True
        quote_qty = cmd.quote_qty
        if quote_qty != 0:
            # A buy sized in quote: nothing else sizes it or bounds its price.
            return (
                quote_qty < 0
                or cmd.qty != 0
                or cmd.side != "buy"
                or price != 0
                or cmd.time_in_force == "FOK"
            )
        return cmd.qty <= 0 or cmd.qty % self.lot != 0

    def _wait(self, cmd: Place) -> None:
        """Keep a conditional order untriggered."""
        self.stops.add(cmd)
        if cmd.expire_time:
            self.expiry.add(cmd.expire_time, cmd.order_id)

    def _unwait(self, order_id: int) -> Place:
        """Take an untriggered order out of waiting."""
        order = self.stops.remove(order_id)
        if order.expire_time:
            self.expiry.remove(order.expire_time, order_id)
        return order

    def _place_list(self, cmd: PlaceList) -> list[Event]:
        """The list's own rules (a new list id, two order ids not live, its shape), then
        both legs placed as orders of their own, the stop leg first; the first refusal
        either meets refuses the list whole."""
        limit = cmd.limit
        stop = cmd.stop

        def refuse(reason: RejectReason) -> list[Event]:
            return [
                Rejected(limit.order_id, limit.user_id, reason),
                Rejected(stop.order_id, stop.user_id, reason),
            ]

        if (
            cmd.list_id in self.lists
            or limit.order_id == stop.order_id
            or limit.order_id in self.orders
            or limit.order_id in self._waiting
            or stop.order_id in self.orders
            or stop.order_id in self._waiting
        ):
            return refuse(DUPLICATE_ORDER_ID)
        if (
            limit.type != "limit"
            or (stop.type != "stop_limit" and stop.type != "stop_market")
            or limit.user_id != stop.user_id
            or limit.side != stop.side
            or limit.time_in_force != stop.time_in_force
            or (limit.time_in_force != "GTC" and limit.time_in_force != "GTD")
            or limit.expire_time != stop.expire_time
        ):
            return refuse(INVALID_ORDER)
        waiting = self._place(stop)
        if type(waiting[0]) is Rejected:
            return refuse(waiting[0].reason)
        # The list is live before its limit leg is matched, so that a trade of that leg
        # ends it.
        oco = OcoList(cmd.list_id, limit.user_id, limit.order_id, stop.order_id)
        self.lists[oco.list_id] = oco
        self._legs[oco.limit_id] = self._legs[oco.stop_id] = oco
        placed = self._place(limit)
        if type(placed[0]) is Rejected:
            # Refused before anything happened to it: take the stop leg back.
            del self.lists[oco.list_id]
            del self._legs[oco.limit_id]
            del self._legs[oco.stop_id]
            self._unwait(stop.order_id)
            return refuse(placed[0].reason)
        placed.insert(1, waiting[0])
        return placed

    def _cancel(self, cmd: Cancel) -> list[Event]:
        order = self.orders.get(cmd.order_id)
        if order is None or order.user_id != cmd.user_id:
            return self._cancel_untriggered(cmd)
        # _remove_resting, inlined: the most frequent command after a place.
        order_id = order.order_id
        del self.orders[order_id]
        side = order.side
        level = (self.bids if side == "buy" else self.asks).remove(order)
        if order.expire_time:
            self.expiry.remove(order.expire_time, order_id)
        self.seq = seq = self.seq + 1
        events: list[Event] = [
            Done(order_id, order.user_id, "cancelled", order.remaining),
            LevelChanged(seq, side, level.price, level.total),
        ]
        if self._legs:
            self._end_list_of(order_id, "cancelled", events)
        return events

    def _cancel_untriggered(self, cmd: Cancel) -> list[Event]:
        order_id = cmd.order_id
        waiting = self._waiting.get(order_id)
        if waiting is None or waiting.user_id != cmd.user_id:
            return [Rejected(order_id, cmd.user_id, UNKNOWN_ORDER)]
        self._unwait(order_id)
        events: list[Event] = [Done(order_id, waiting.user_id, "cancelled", waiting.qty)]
        if self._legs:
            self._end_list_of(order_id, "cancelled", events)
        return events

    def _cancel_all(self, cmd: CancelAll) -> list[Event]:
        """Cancel the user's orders in order-id order (a list's other leg goes with the
        first of its legs)."""
        user_id = cmd.user_id
        mine = [o.order_id for o in self.orders.values() if o.user_id == user_id]
        mine += [o.order_id for o in self.stops.orders.values() if o.user_id == user_id]
        mine.sort()
        events: list[Event] = []
        for order_id in mine:
            if order_id in self.orders or order_id in self.stops.orders:
                events += self._cancel(Cancel(order_id, user_id))
        return events

    def _cancel_list(self, cmd: CancelList) -> list[Event]:
        oco = self.lists.get(cmd.list_id)
        if oco is None or oco.user_id != cmd.user_id:
            return [Rejected(cmd.list_id, cmd.user_id, UNKNOWN_ORDER)]
        return self._cancel(Cancel(oco.limit_id, oco.user_id))

    def _amend(self, cmd: Amend) -> list[Event]:
        order_id = cmd.order_id
        user_id = cmd.user_id
        order = self.orders.get(order_id)
        if order is None or order.user_id != user_id:
            waiting = self.stops.orders.get(order_id)
            if waiting is not None and waiting.user_id == user_id:
                return [Rejected(order_id, user_id, NOT_AMENDABLE)]
            return [Rejected(order_id, user_id, UNKNOWN_ORDER)]
        if self._legs and order_id in self._legs:
            return [Rejected(order_id, user_id, NOT_AMENDABLE)]
        old_qty = order.qty
        old_price = order.price
        new_qty = cmd.qty or old_qty
        new_price = cmd.price or old_price
        if new_qty < 0 or new_qty % self.lot or new_price < 0 or new_price % self.tick:
            return [Rejected(order_id, user_id, INVALID_ORDER)]
        filled = old_qty - order.remaining
        if new_qty <= filled:
            return [Rejected(order_id, user_id, AMEND_BELOW_FILLED)]
        side = order.side
        is_buy = side == "buy"
        own = self.bids if is_buy else self.asks
        remaining = new_qty - filled
        if new_price == old_price and new_qty <= old_qty:
            # Less to trade at the same price: the order keeps its place in the queue.
            order.qty = new_qty
            order.remaining = remaining
            events: list[Event] = [Amended(order_id, user_id, new_price, new_qty, remaining)]
            if new_qty != old_qty:
                level = own.levels[old_price]
                level.total -= old_qty - new_qty
                self.seq += 1
                events.append(LevelChanged(self.seq, side, old_price, level.total))
            return events
        # Anything else re-queues the order as a new taker, which only trading and
        # post_only allow (it could trade).
        status = self.status
        if status != "trading" and status != "post_only":
            return [Rejected(order_id, user_id, _REFUSED[status])]
        top = (self.asks if is_buy else self.bids).top
        crosses = top is not None and (top.price <= new_price if is_buy else top.price >= new_price)
        if crosses and (order.post_only or status == "post_only"):
            return [Rejected(order_id, user_id, POST_ONLY_WOULD_TAKE)]
        level = own.remove(order)
        self.seq = seq = self.seq + 1
        events = [
            Amended(order_id, user_id, new_price, new_qty, remaining),
            LevelChanged(seq, side, old_price, level.total),
        ]
        order.price = new_price
        order.qty = new_qty
        order.remaining = remaining
        if crosses:
            del self.orders[order_id]
            if order.expire_time:
                self.expiry.remove(order.expire_time, order_id)  # back if it rests again
            self._take(order, new_price, 0, True, events)
            if self._triggered:
                self._match_triggered(events)
        else:
            # The common move: it rests at once at its new price, behind that level.
            level = own.append(order)
            self.seq = seq + 1
            events.append(LevelChanged(seq + 1, side, new_price, level.total))
        return events

    # --- leaving the book -----------------------------------------------------------------

    def _remove_resting(self, order: RestingOrder, status: DoneStatus, events: list[Event]) -> None:
        del self.orders[order.order_id]
        side = order.side
        level = (self.bids if side == "buy" else self.asks).remove(order)
        if order.expire_time:
            self.expiry.remove(order.expire_time, order.order_id)
        self.seq = seq = self.seq + 1
        events.append(Done(order.order_id, order.user_id, status, order.remaining))
        events.append(LevelChanged(seq, side, level.price, level.total))

    def _remove_untriggered(self, order_id: int, status: DoneStatus, events: list[Event]) -> None:
        order = self._unwait(order_id)
        events.append(Done(order_id, order.user_id, status, order.qty))

    def _expire(self, now: int) -> list[Event]:
        events: list[Event] = []
        expiry = self.expiry
        while (first := expiry.first()) is not None and first[0] <= now:
            order_id = first[1]
            order = self.orders.get(order_id)
            if order is not None:
                self._remove_resting(order, "expired", events)
            else:
                self._remove_untriggered(order_id, "expired", events)
            if self._legs:
                self._end_list_of(order_id, "expired", events)
        return events

    # --- lists --------------------------------------------------------------------------

    def _end_list_of(self, order_id: int, status: DoneStatus, events: list[Event]) -> None:
        oco = self._legs.get(order_id)
        if oco is not None:
            self._end_list(oco, order_id, status, events)

    def _end_list(self, oco: OcoList, leg_id: int, status: DoneStatus, events: list[Event]) -> None:
        """Something happened to leg ``leg_id``: the list ends and its other leg leaves
        with ``status``."""
        del self.lists[oco.list_id]
        del self._legs[oco.limit_id]
        del self._legs[oco.stop_id]
        other = oco.stop_id if leg_id == oco.limit_id else oco.limit_id
        order = self.orders.get(other)
        if order is not None:
            self._remove_resting(order, status, events)
        else:
            self._remove_untriggered(other, status, events)

    def _end_touched_lists(self, start: int, events: list[Event]) -> None:
        """End the lists of every leg that ``events[start:]`` (one sweep) traded or
        finished, in the order the sweep touched them."""
        legs = self._legs
        for i in range(start, len(events)):
            if not legs:
                return
            event = events[i]
            kind = type(event)
            if kind is Trade:
                trade: Trade = event  # type: ignore[assignment]
                for order_id in (trade.maker_order_id, trade.taker_order_id):
                    oco = legs.get(order_id)
                    if oco is not None:
                        self._end_list(oco, order_id, "cancelled", events)
            elif kind is Done:
                done: Done = event  # type: ignore[assignment]
                oco = legs.get(done.order_id)
                if oco is not None:
                    self._end_list(oco, done.order_id, "cancelled", events)

    # --- matching -----------------------------------------------------------------------

    def _take(
        self, taker: RestingOrder, limit: int, budget: int, rests: bool, events: list[Event]
    ) -> None:
        """Match ``taker`` against the opposite side, then rest or finish it.

        ``budget`` > 0 makes a market buy by quote amount: it takes whole lots while the
        quote it has left pays for them.
        """
        # Nothing is added to what waits or to the lists during a sweep: decide now
        # whether its events will need a look afterwards.
        watch = self._waiting or self._legs
        if watch:
            start = len(events)
            trade_id = self.trade_id
        is_buy = taker.side == "buy"
        opposite = self.asks if is_buy else self.bids
        by_quote = budget > 0
        start_budget = budget
        stopped_by_stp = out_of_budget = False
        while taker.remaining > 0 or by_quote:
            level = opposite.top
            if level is None:
                break
            price = level.price
            if price > limit if is_buy else price < limit:
                break
            if by_quote:
                affordable = budget * self.base_scale // price // self.lot * self.lot
                if affordable == 0:
                    out_of_budget = True
                    break
                taker.remaining = affordable
            before = taker.remaining
            stopped_by_stp = self._match_level(taker, level, opposite, events)
            if by_quote:
                budget -= price * (before - taker.remaining) // self.base_scale
                taker.remaining = 0
            if stopped_by_stp:
                break
        if by_quote:
            # Spent some and could not pay for another lot: that is a complete fill.
            ran_out = out_of_budget or budget == 0
            status: DoneStatus = "filled" if ran_out and budget < start_budget else "expired"
            events.append(Done(taker.order_id, taker.user_id, status, 0))
        elif taker.remaining == 0:
            events.append(Done(taker.order_id, taker.user_id, "filled", 0))
        elif rests and not stopped_by_stp:
            self.orders[taker.order_id] = taker
            level = (self.bids if is_buy else self.asks).append(taker)
            if taker.expire_time:
                self.expiry.add(taker.expire_time, taker.order_id)
            self.seq += 1
            events.append(LevelChanged(self.seq, taker.side, level.price, level.total))
        else:
            events.append(Done(taker.order_id, taker.user_id, "expired", taker.remaining))
        if watch:
            self._after_sweep(is_buy, start, self.trade_id != trade_id, events)

    def _after_sweep(self, is_buy: bool, start: int, traded: bool, events: list[Event]) -> None:
        """A sweep has finished: end the lists it touched (self-trade prevention may
        finish a leg without a trade) and, if it traded, trigger what its price path
        crossed (see the module's trigger order)."""
        if self._legs:
            self._end_touched_lists(start, events)
        stops = self.stops
        if not traded or not stops.orders:
            return
        last = self.last_price
        i = start
        while type(events[i]) is not Trade:
            i += 1
        first: int = events[i].price  # type: ignore[union-attr]
        crossed = stops.pop_crossed(is_buy, first, last)
        for order in crossed:
            order_id = order.order_id
            if order.expire_time:
                self.expiry.remove(order.expire_time, order_id)
            events.append(Triggered(order_id, order.user_id))
            if self._legs:
                self._end_list_of(order_id, "cancelled", events)
            self._triggered.append(order)

    def _match_triggered(self, events: list[Event]) -> None:
        """Once the command's own taker has finished: match the triggered orders in
        order, each placed anew as the order it names (without its Accepted); those
        their sweeps trigger join the back of the queue."""
        queue = self._triggered
        self._matching_triggered = True
        i = 0
        while i < len(queue):
            waiting = queue[i]
            i += 1
            order = msgspec.structs.replace(waiting, type=TWIN[waiting.type], stop_price=0)
            placed = self._place(order)
            assert type(placed[0]) is Accepted, "a triggered order is valid as its twin"
            del placed[0]
            events += placed
        queue.clear()
        self._matching_triggered = False

    def _match_level(
        self, taker: RestingOrder, level: Level, opposite: BookSide, events: list[Event]
    ) -> bool:
        """Fill ``taker`` from one level in time priority; True if self-trade prevention
        stopped the taker."""
        gone: list[RestingOrder] = []
        stopped = False
        want = taker.remaining
        price = level.price
        taker_side = taker.side
        taker_id = taker.order_id
        taker_user = taker.user_id
        seq = self.seq
        trade_id = self.trade_id
        expired = 0
        for maker in level.orders.values():
            if maker.user_id == taker_user:
                stp = taker.stp
                if stp != "expire_taker":
                    gone.append(maker)
                    expired += maker.remaining
                    events.append(Done(maker.order_id, maker.user_id, "expired", maker.remaining))
                if stp != "expire_maker":
                    stopped = True
                    break
                continue
            qty = want if want < maker.remaining else maker.remaining
            maker.remaining -= qty
            want -= qty
            seq += 1
            trade_id += 1
            events.append(
                Trade(
                    seq,
                    trade_id,
                    price,
                    qty,
                    taker_side,
                    maker.order_id,
                    maker.user_id,
                    taker_id,
                    taker_user,
                )
            )
            if maker.remaining == 0:
                gone.append(maker)
                events.append(Done(maker.order_id, maker.user_id, "filled", 0))
            if want == 0:
                break
        self.trade_id = trade_id
        traded = taker.remaining - want
        if not gone and not traded:
            return stopped
        if traded:
            self.last_price = price
        orders = level.orders
        index = self.orders
        for maker in gone:
            del orders[maker.order_id]
            del index[maker.order_id]
            if maker.expire_time:
                self.expiry.remove(maker.expire_time, maker.order_id)
        level.total -= traded + expired
        taker.remaining = want
        opposite.drop_if_empty(level)
        self.seq = seq + 1
        events.append(LevelChanged(self.seq, opposite.side, price, level.total))
        return stopped

    def _can_fill(self, cmd: Place, limit: int) -> bool:
        """Whether a FOK order would fill completely, honouring self-trade prevention."""
        is_buy = cmd.side == "buy"
        opposite = self.asks if is_buy else self.bids
        reachable = [p for p in opposite.levels if (p <= limit if is_buy else p >= limit)]
        reachable.sort(reverse=not is_buy)
        need = cmd.qty
        for price in reachable:
            for maker in opposite.levels[price].orders.values():
                if maker.user_id == cmd.user_id:
                    if cmd.stp == "expire_maker":
                        continue
                    return False
                need -= maker.remaining
                if need <= 0:
                    return True
        return False

    # --- queries ------------------------------------------------------------------------

    def depth(self, limit: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``limit`` levels as (price, total): bids high to low, asks low to high."""
        return (
            [(p, self.bids.levels[p].total) for p in self.bids.prices_best_first()[:limit]],
            [(p, self.asks.levels[p].total) for p in self.asks.prices_best_first()[:limit]],
        )

    def best_bid(self) -> int | None:
        level = self.bids.best()
        return None if level is None else level.price

    def best_ask(self) -> int | None:
        level = self.asks.best()
        return None if level is None else level.price

    # --- snapshot -----------------------------------------------------------------------

    def snapshot(self) -> EngineSnapshot:
        orders = [
            SnapshotOrder(
                o.order_id,
                o.user_id,
                o.side,
                o.price,
                o.qty,
                o.remaining,
                o.post_only,
                o.stp,
                o.expire_time,
            )
            for side in (self.bids, self.asks)
            for level in side.levels_best_first()
            for o in level.orders.values()
        ]
        return EngineSnapshot(
            self.market,
            self.seq,
            self.trade_id,
            self.status == "halted",
            orders,
            self.status,
            self.now,
            self.last_price,
            self.stops.in_trigger_order(),
            sorted(self.lists.values(), key=lambda oco: oco.list_id),
        )

    def snapshot_bytes(self) -> bytes:
        return _snapshot_encoder.encode(self.snapshot())

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot_bytes()).hexdigest()

    @classmethod
    def restore(
        cls, data: bytes | EngineSnapshot, tick: int, lot: int, base_scale: int
    ) -> MatchingEngine:
        snap = data if isinstance(data, EngineSnapshot) else _snapshot_decoder.decode(data)
        engine = cls(snap.market, tick, lot, base_scale)
        engine.seq = snap.seq
        engine.trade_id = snap.trade_id
        if snap.status is not None:
            engine.status = snap.status
        elif snap.halted:
            engine.status = "halted"
        engine.now = snap.now
        engine.last_price = snap.last_price
        for o in snap.orders:
            order = RestingOrder(
                o.order_id,
                o.user_id,
                o.side,
                o.price,
                o.qty,
                o.remaining,
                o.post_only,
                o.stp,
                o.expire_time,
            )
            engine.orders[o.order_id] = order
            (engine.bids if o.side == "buy" else engine.asks).append(order)
            if o.expire_time:
                engine.expiry.add(o.expire_time, o.order_id)
        for waiting in snap.untriggered:
            engine._wait(waiting)
        for oco in snap.lists:
            engine.lists[oco.list_id] = oco
            engine._legs[oco.limit_id] = engine._legs[oco.stop_id] = oco
        return engine
