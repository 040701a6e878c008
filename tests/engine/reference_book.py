"""A slow, plainly written order book to check :class:`MatchingEngine` against.

It implements the decided semantics straight from their statement, with none of the
engine's structure: all resting orders sit in one list in arrival order, every question
("what is the best ask?", "what rests at 100?") is a linear scan, and a FOK order is
tried on a copy of the book.  It emits the same event classes in the same order.

Invariants:
- ``orders`` holds exactly the resting orders, in arrival order; a stable sort by price
  therefore gives price-time priority.  Every ``remaining`` is in ``(0, qty]``.
- ``seq`` counts public events (Trade, LevelChanged), ``trade_id`` counts trades.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from actors.engine.engine import SnapshotOrder
from actors.engine.messages import (
    AMEND_BELOW_FILLED,
    DUPLICATE_ORDER_ID,
    INVALID_ORDER,
    MARKET_HALTED,
    POST_ONLY_WOULD_TAKE,
    UNKNOWN_ORDER,
    Accepted,
    Amend,
    Amended,
    Cancel,
    CancelAll,
    Command,
    Done,
    DoneStatus,
    Event,
    Halt,
    LevelChanged,
    Place,
    Rejected,
    Resume,
    SelfTradePrevention,
    Side,
    Trade,
)


@dataclass
class RefOrder:
    order_id: int
    user_id: int
    side: Side
    price: int
    qty: int
    remaining: int
    post_only: bool
    stp: SelfTradePrevention


def _other(side: Side) -> Side:
    return "sell" if side == "buy" else "buy"


class ReferenceBook:
    def __init__(self, tick: int, lot: int, base_scale: int) -> None:
        self.tick = tick
        self.lot = lot
        self.base_scale = base_scale
        self.orders: list[RefOrder] = []
        self.seq = 0
        self.trade_id = 0
        self.halted = False

    # --- looking at the book -------------------------------------------------------------

    def queue(self, side: Side) -> list[RefOrder]:
        """Resting orders of ``side`` in priority order: best price, then oldest."""
        mine = [o for o in self.orders if o.side == side]
        if side == "buy":
            return sorted(mine, key=lambda o: -o.price)
        return sorted(mine, key=lambda o: o.price)

    def total(self, side: Side, price: int) -> int:
        return sum(o.remaining for o in self.orders if o.side == side and o.price == price)

    def find(self, order_id: int) -> RefOrder | None:
        for o in self.orders:
            if o.order_id == order_id:
                return o
        return None

    def depth(self, limit: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        def levels(side: Side) -> list[tuple[int, int]]:
            prices: list[int] = []
            for o in self.queue(side):
                if o.price not in prices:
                    prices.append(o.price)
            return [(p, self.total(side, p)) for p in prices[:limit]]

        return levels("buy"), levels("sell")

    def snapshot_orders(self) -> list[SnapshotOrder]:
        return [
            SnapshotOrder(
                o.order_id, o.user_id, o.side, o.price, o.qty, o.remaining, o.post_only, o.stp
            )
            for side in ("buy", "sell")
            for o in self.queue(side)
        ]

    # --- commands ------------------------------------------------------------------------

    def apply(self, command: Command) -> list[Event]:
        if isinstance(command, Place):
            return self.place(command)
        if isinstance(command, Cancel):
            return self.cancel(command)
        if isinstance(command, CancelAll):
            return self.cancel_all(command)
        if isinstance(command, Amend):
            return self.amend(command)
        if isinstance(command, Halt):
            self.halted = True
            return []
        if isinstance(command, Resume):
            self.halted = False
            return []
        raise TypeError(command)

    def is_valid(self, c: Place) -> bool:
        if c.post_only and (c.type != "limit" or c.time_in_force != "GTC"):
            return False
        if c.type == "limit":
            return (
                c.price > 0
                and c.price % self.tick == 0
                and c.quote_qty == 0
                and c.qty > 0
                and c.qty % self.lot == 0
            )
        if c.price < 0 or c.price % self.tick != 0:
            return False
        if c.quote_qty != 0:
            return (
                c.quote_qty > 0
                and c.side == "buy"
                and c.qty == 0
                and c.price == 0
                and c.time_in_force != "FOK"
            )
        return c.qty > 0 and c.qty % self.lot == 0

    def place(self, c: Place) -> list[Event]:
        if self.halted:
            return [Rejected(c.order_id, c.user_id, MARKET_HALTED)]
        if self.find(c.order_id) is not None:
            return [Rejected(c.order_id, c.user_id, DUPLICATE_ORDER_ID)]
        if not self.is_valid(c):
            return [Rejected(c.order_id, c.user_id, INVALID_ORDER)]
        if c.type == "limit":
            limit: int | None = c.price
        elif c.side == "buy" and c.price > 0:
            limit = c.price
        else:
            limit = None
        if c.post_only and self.would_cross(c.side, c.price):
            return [Rejected(c.order_id, c.user_id, POST_ONLY_WOULD_TAKE)]
        events: list[Event] = [Accepted(c.order_id, c.user_id)]
        taker = RefOrder(c.order_id, c.user_id, c.side, c.price, c.qty, c.qty, c.post_only, c.stp)
        if c.time_in_force == "FOK":
            trial = copy.deepcopy(self)
            trial_events: list[Event] = []
            trial.take(copy.copy(taker), limit, 0, False, trial_events)
            if not isinstance(trial_events[-1], Done) or trial_events[-1].status != "filled":
                events.append(Done(c.order_id, c.user_id, "expired", c.qty))
                return events
        rests = c.type == "limit" and c.time_in_force == "GTC"
        self.take(taker, limit, c.quote_qty, rests, events)
        return events

    def cancel(self, c: Cancel) -> list[Event]:
        o = self.find(c.order_id)
        if o is None or o.user_id != c.user_id:
            return [Rejected(c.order_id, c.user_id, UNKNOWN_ORDER)]
        events: list[Event] = []
        self.cancel_one(o, events)
        return events

    def cancel_all(self, c: CancelAll) -> list[Event]:
        events: list[Event] = []
        mine = [o for o in self.orders if o.user_id == c.user_id]
        for o in sorted(mine, key=lambda o: o.order_id):
            self.cancel_one(o, events)
        return events

    def cancel_one(self, o: RefOrder, events: list[Event]) -> None:
        self.orders.remove(o)
        events.append(Done(o.order_id, o.user_id, "cancelled", o.remaining))
        events.append(self.level_changed(o.side, o.price))

    def amend(self, c: Amend) -> list[Event]:
        o = self.find(c.order_id)
        if o is None or o.user_id != c.user_id:
            return [Rejected(c.order_id, c.user_id, UNKNOWN_ORDER)]
        new_qty = c.qty if c.qty != 0 else o.qty
        new_price = c.price if c.price != 0 else o.price
        if new_qty < 0 or new_qty % self.lot or new_price < 0 or new_price % self.tick:
            return [Rejected(c.order_id, c.user_id, INVALID_ORDER)]
        filled = o.qty - o.remaining
        if new_qty <= filled:
            return [Rejected(c.order_id, c.user_id, AMEND_BELOW_FILLED)]
        if new_price == o.price and new_qty <= o.qty:
            # Same place in the queue, less to trade.
            changed = new_qty != o.qty
            o.qty = new_qty
            o.remaining = new_qty - filled
            events: list[Event] = [Amended(o.order_id, o.user_id, o.price, o.qty, o.remaining)]
            if changed:
                events.append(self.level_changed(o.side, o.price))
            return events
        if self.halted:
            return [Rejected(c.order_id, c.user_id, MARKET_HALTED)]
        if o.post_only and self.would_cross(o.side, new_price):
            return [Rejected(c.order_id, c.user_id, POST_ONLY_WOULD_TAKE)]
        self.orders.remove(o)
        events = [Amended(o.order_id, o.user_id, new_price, new_qty, new_qty - filled)]
        events.append(self.level_changed(o.side, o.price))
        taker = RefOrder(
            o.order_id,
            o.user_id,
            o.side,
            new_price,
            new_qty,
            new_qty - filled,
            o.post_only,
            o.stp,
        )
        self.take(taker, new_price, 0, True, events)
        return events

    # --- matching ------------------------------------------------------------------------

    def would_cross(self, side: Side, limit: int) -> bool:
        for o in self.queue(_other(side)):
            return o.price <= limit if side == "buy" else o.price >= limit
        return False

    def level_changed(self, side: Side, price: int) -> LevelChanged:
        self.seq += 1
        return LevelChanged(self.seq, side, price, self.total(side, price))

    def take(
        self,
        taker: RefOrder,
        limit: int | None,
        budget: int,
        rests: bool,
        events: list[Event],
    ) -> None:
        """Match ``taker`` (``limit`` None: any price; ``budget`` > 0: a buy by quote),
        then rest it or finish it."""
        by_quote = budget > 0
        spent = 0
        stopped = out_of_budget = False
        makers = self.queue(_other(taker.side))
        prices: list[int] = []
        for m in makers:
            if m.price not in prices:
                prices.append(m.price)
        for price in prices:
            if limit is not None and (price > limit if taker.side == "buy" else price < limit):
                break
            touched = False
            for m in [m for m in makers if m.price == price]:
                if by_quote:
                    want = (budget - spent) * self.base_scale // price // self.lot * self.lot
                    if want == 0:
                        out_of_budget = True
                        break
                else:
                    want = taker.remaining
                    if want == 0:
                        break
                if m.user_id == taker.user_id:
                    if taker.stp in ("expire_maker", "expire_both"):
                        self.orders.remove(m)
                        touched = True
                        events.append(Done(m.order_id, m.user_id, "expired", m.remaining))
                    if taker.stp in ("expire_taker", "expire_both"):
                        stopped = True
                        break
                    continue
                qty = min(want, m.remaining)
                m.remaining -= qty
                if by_quote:
                    spent += price * qty // self.base_scale
                else:
                    taker.remaining -= qty
                touched = True
                self.seq += 1
                self.trade_id += 1
                events.append(
                    Trade(
                        self.seq,
                        self.trade_id,
                        price,
                        qty,
                        taker.side,
                        m.order_id,
                        m.user_id,
                        taker.order_id,
                        taker.user_id,
                    )
                )
                if m.remaining == 0:
                    self.orders.remove(m)
                    events.append(Done(m.order_id, m.user_id, "filled", 0))
                elif by_quote:
                    # It took every lot it could afford and the maker still has more.
                    out_of_budget = True
                    break
            if touched:
                events.append(self.level_changed(_other(taker.side), price))
            if stopped or out_of_budget or (not by_quote and taker.remaining == 0):
                break
        if by_quote:
            ran_out = out_of_budget or spent == budget
            status: DoneStatus = "filled" if spent > 0 and ran_out else "expired"
            events.append(Done(taker.order_id, taker.user_id, status, 0))
        elif taker.remaining == 0:
            events.append(Done(taker.order_id, taker.user_id, "filled", 0))
        elif rests and not stopped:
            self.orders.append(taker)
            events.append(self.level_changed(taker.side, taker.price))
        else:
            events.append(Done(taker.order_id, taker.user_id, "expired", taker.remaining))
