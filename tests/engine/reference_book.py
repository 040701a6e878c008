"""A slow, plainly written order book to check :class:`MatchingEngine` against.

It implements the decided semantics straight from their statement, with none of the
engine's structure: all resting orders sit in one list in arrival order, and so do the
orders waiting for their trigger and the live OCO lists; every question ("what is the
best ask?", "what rests at 100?", "what expires next?", "what did this sweep cross?") is
a linear scan or a sort, and a FOK order is tried on a copy of the book.  It emits the
same event classes in the same order.

Invariants:
- ``orders`` holds exactly the resting orders, in arrival order; a stable sort by price
  therefore gives price-time priority.  Every ``remaining`` is in ``(0, qty]``.
- ``waiting`` holds exactly the untriggered orders, in arrival order; ``lists`` the live
  OCO lists, each with both legs live.
- ``seq`` counts public events (Trade, LevelChanged), ``trade_id`` counts trades.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from actors.engine.engine import OcoList, SnapshotOrder
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

CONDITIONAL = ("stop_limit", "stop_market", "take_profit_limit", "take_profit_market")


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
    expire_time: int = 0


def _other(side: Side) -> Side:
    return "sell" if side == "buy" else "buy"


def rises(o: Place) -> bool:
    """Whether a rising price triggers ``o``: a stop buy or a take-profit sell."""
    is_stop = o.type in ("stop_limit", "stop_market")
    return is_stop == (o.side == "buy")


def condition_holds(o: Place, last: int) -> bool:
    if last == 0:
        return False
    return last >= o.stop_price if rises(o) else last <= o.stop_price


def twin(o: Place) -> Place:
    """The limit or market order a triggered ``o`` becomes."""
    kind = "limit" if o.type.endswith("_limit") else "market"
    return Place(
        o.order_id,
        o.user_id,
        o.side,
        kind,  # type: ignore[arg-type]
        o.price,
        o.qty,
        o.quote_qty,
        o.time_in_force,
        o.post_only,
        o.stp,
        0,
        o.expire_time,
    )


class ReferenceBook:
    def __init__(self, tick: int, lot: int, base_scale: int) -> None:
        self.tick = tick
        self.lot = lot
        self.base_scale = base_scale
        self.orders: list[RefOrder] = []
        self.waiting: list[Place] = []
        self.lists: list[OcoList] = []
        self.seq = 0
        self.trade_id = 0
        self.status: MarketStatus = "trading"
        self.now = 0
        self.last_price = 0
        self.triggered: list[Place] = []

    @property
    def halted(self) -> bool:
        return self.status == "halted"

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

    def find_waiting(self, order_id: int) -> Place | None:
        for o in self.waiting:
            if o.order_id == order_id:
                return o
        return None

    def list_of(self, order_id: int) -> OcoList | None:
        for oco in self.lists:
            if order_id in (oco.limit_id, oco.stop_id):
                return oco
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
            for side in ("buy", "sell")
            for o in self.queue(side)
        ]

    def waiting_in_trigger_order(self) -> list[Place]:
        up = sorted((o for o in self.waiting if rises(o)), key=lambda o: o.stop_price)
        down = sorted((o for o in self.waiting if not rises(o)), key=lambda o: -o.stop_price)
        return up + down

    def next_expiry(self) -> int | None:
        times = [o.expire_time for o in self.orders] + [w.expire_time for w in self.waiting]
        return min((t for t in times if t), default=None)

    # --- commands ------------------------------------------------------------------------

    def apply(self, command: Command, now: int = 0) -> list[Event]:
        events: list[Event] = []
        if now > self.now:
            self.now = now
            self.expire_due(events)
        if isinstance(command, Place):
            events += self.place(command)
        elif isinstance(command, Cancel):
            events += self.cancel(command)
        elif isinstance(command, CancelAll):
            events += self.cancel_all(command)
        elif isinstance(command, Amend):
            events += self.amend(command)
        elif isinstance(command, PlaceList):
            events += self.place_list(command)
        elif isinstance(command, CancelList):
            events += self.cancel_list(command)
        elif isinstance(command, SetStatus):
            self.status = command.status
        elif isinstance(command, Halt):
            self.status = "halted"
        elif isinstance(command, Resume):
            self.status = "trading"
        elif not isinstance(command, Tick):
            raise TypeError(command)
        while self.triggered:
            self.execute(twin(self.triggered.pop(0)), events)
        return events

    def expire_due(self, events: list[Event]) -> None:
        while True:
            due = [(o.expire_time, o.order_id) for o in self.orders]
            due += [(w.expire_time, w.order_id) for w in self.waiting]
            due = [(t, order_id) for t, order_id in due if t and t <= self.now]
            if not due:
                return
            _, order_id = min(due)
            self.leave(order_id, "expired", events)
            self.end_list(order_id, "expired", events)

    def leave(self, order_id: int, status: DoneStatus, events: list[Event]) -> None:
        """Take a resting or waiting order out, with its Done (and LevelChanged)."""
        o = self.find(order_id)
        if o is not None:
            self.orders.remove(o)
            events.append(Done(o.order_id, o.user_id, status, o.remaining))
            events.append(self.level_changed(o.side, o.price))
            return
        w = self.find_waiting(order_id)
        assert w is not None
        self.waiting.remove(w)
        events.append(Done(w.order_id, w.user_id, status, w.qty))

    def end_list(self, order_id: int, status: DoneStatus, events: list[Event]) -> None:
        """Something happened to ``order_id``: if it is a leg of a live list, the list
        ends and the other leg leaves with ``status``."""
        oco = self.list_of(order_id)
        if oco is None:
            return
        self.lists.remove(oco)
        other = oco.stop_id if order_id == oco.limit_id else oco.limit_id
        self.leave(other, status, events)

    def refusal(self) -> RejectReason | None:
        if self.status == "halted":
            return MARKET_HALTED
        if self.status == "cancel_only":
            return MARKET_CANCEL_ONLY
        return None

    def is_live(self, order_id: int) -> bool:
        return self.find(order_id) is not None or self.find_waiting(order_id) is not None

    def is_valid(self, c: Place) -> bool:
        if c.time_in_force == "GTD":
            if c.expire_time <= self.now:
                return False
        elif c.expire_time != 0:
            return False
        if c.type in CONDITIONAL:
            if c.stop_price <= 0 or c.stop_price % self.tick != 0 or c.post_only:
                return False
            return self.is_valid(twin(c))
        if c.stop_price != 0:
            return False
        if c.post_only and (c.type != "limit" or c.time_in_force not in ("GTC", "GTD")):
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
        refused = self.refusal()
        if refused is not None:
            return [Rejected(c.order_id, c.user_id, refused)]
        if self.is_live(c.order_id):
            return [Rejected(c.order_id, c.user_id, DUPLICATE_ORDER_ID)]
        if not self.is_valid(c):
            return [Rejected(c.order_id, c.user_id, INVALID_ORDER)]
        if c.type in CONDITIONAL:
            if condition_holds(c, self.last_price):
                return [Rejected(c.order_id, c.user_id, WOULD_TRIGGER_IMMEDIATELY)]
            self.waiting.append(c)
            return [Accepted(c.order_id, c.user_id)]
        post_only_market = self.status == "post_only"
        if post_only_market and c.type == "market":
            return [Rejected(c.order_id, c.user_id, POST_ONLY_WOULD_TAKE)]
        if (c.post_only or post_only_market) and self.would_cross(c.side, c.price):
            return [Rejected(c.order_id, c.user_id, POST_ONLY_WOULD_TAKE)]
        events: list[Event] = [Accepted(c.order_id, c.user_id)]
        self.execute(c, events)
        return events

    def execute(self, c: Place, events: list[Event]) -> None:
        """Match a valid limit or market order, then rest it or finish it."""
        if c.type == "limit":
            limit: int | None = c.price
        elif c.side == "buy" and c.price > 0:
            limit = c.price
        else:
            limit = None
        taker = RefOrder(
            c.order_id, c.user_id, c.side, c.price, c.qty, c.qty, c.post_only, c.stp, c.expire_time
        )
        if c.time_in_force == "FOK":
            trial = copy.deepcopy(self)
            trial_events: list[Event] = []
            trial.take(copy.copy(taker), limit, 0, False, trial_events)
            filled = Done(c.order_id, c.user_id, "filled", 0)
            if filled not in trial_events:
                events.append(Done(c.order_id, c.user_id, "expired", c.qty))
                return
        rests = c.type == "limit" and c.time_in_force in ("GTC", "GTD")
        self.take(taker, limit, c.quote_qty, rests, events)

    def place_list(self, c: PlaceList) -> list[Event]:
        """The list's own rules (a new list id, two order ids not live, its shape), then
        each leg as an order on its own, the stop leg first: the first refusal refuses
        both."""
        legs = (c.limit, c.stop)

        def refuse(reason: RejectReason) -> list[Event]:
            return [Rejected(leg.order_id, leg.user_id, reason) for leg in legs]

        if (
            any(oco.list_id == c.list_id for oco in self.lists)
            or c.limit.order_id == c.stop.order_id
            or any(self.is_live(leg.order_id) for leg in legs)
        ):
            return refuse(DUPLICATE_ORDER_ID)
        same = (
            c.limit.user_id == c.stop.user_id
            and c.limit.side == c.stop.side
            and c.limit.time_in_force == c.stop.time_in_force
            and c.limit.expire_time == c.stop.expire_time
        )
        if (
            not same
            or c.limit.type != "limit"
            or c.stop.type not in ("stop_limit", "stop_market")
            or c.limit.time_in_force not in ("GTC", "GTD")
        ):
            return refuse(INVALID_ORDER)
        stop_answer = self.place(c.stop)
        if isinstance(stop_answer[0], Rejected):
            return refuse(stop_answer[0].reason)
        oco = OcoList(c.list_id, c.limit.user_id, c.limit.order_id, c.stop.order_id)
        self.lists.append(oco)
        events = self.place(c.limit)
        if isinstance(events[0], Rejected):
            self.lists.remove(oco)
            self.waiting.remove(c.stop)
            return refuse(events[0].reason)
        return [events[0], *stop_answer, *events[1:]]

    def cancel(self, c: Cancel) -> list[Event]:
        o = self.find(c.order_id)
        w = self.find_waiting(c.order_id)
        owner = o.user_id if o is not None else w.user_id if w is not None else None
        if owner != c.user_id:
            return [Rejected(c.order_id, c.user_id, UNKNOWN_ORDER)]
        events: list[Event] = []
        self.leave(c.order_id, "cancelled", events)
        self.end_list(c.order_id, "cancelled", events)
        return events

    def cancel_all(self, c: CancelAll) -> list[Event]:
        events: list[Event] = []
        mine = [o.order_id for o in self.orders if o.user_id == c.user_id]
        mine += [w.order_id for w in self.waiting if w.user_id == c.user_id]
        for order_id in sorted(mine):
            if self.is_live(order_id):
                events += self.cancel(Cancel(order_id, c.user_id))
        return events

    def cancel_list(self, c: CancelList) -> list[Event]:
        for oco in self.lists:
            if oco.list_id == c.list_id and oco.user_id == c.user_id:
                return self.cancel(Cancel(oco.limit_id, c.user_id))
        return [Rejected(c.list_id, c.user_id, UNKNOWN_ORDER)]

    def amend(self, c: Amend) -> list[Event]:
        w = self.find_waiting(c.order_id)
        if w is not None and w.user_id == c.user_id:
            return [Rejected(c.order_id, c.user_id, NOT_AMENDABLE)]
        o = self.find(c.order_id)
        if o is None or o.user_id != c.user_id:
            return [Rejected(c.order_id, c.user_id, UNKNOWN_ORDER)]
        if self.list_of(o.order_id) is not None:
            return [Rejected(c.order_id, c.user_id, NOT_AMENDABLE)]
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
        refused = self.refusal()
        if refused is not None:
            return [Rejected(c.order_id, c.user_id, refused)]
        post_only = o.post_only or self.status == "post_only"
        if post_only and self.would_cross(o.side, new_price):
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
            o.expire_time,
        )
        self.take(taker, new_price, 0, True, events)
        return events

    # --- after a sweep -------------------------------------------------------------------

    def after_sweep(self, taker_side: Side, sweep: list[Event], events: list[Event]) -> None:
        """``sweep``: the events of one taker's sweep."""
        # The lists whose legs the sweep touched end, in the order it touched them.
        for e in sweep:
            if isinstance(e, Trade):
                self.end_list(e.maker_order_id, "cancelled", events)
                self.end_list(e.taker_order_id, "cancelled", events)
            elif isinstance(e, Done):
                self.end_list(e.order_id, "cancelled", events)
        prices = [e.price for e in sweep if isinstance(e, Trade)]
        if not prices:
            return
        self.last_price = prices[-1]
        # The price path: to the first trade price, then on to the last, one way.
        first, last = prices[0], prices[-1]
        up = sorted(
            (o for o in self.waiting if rises(o) and o.stop_price <= max(first, last)),
            key=lambda o: o.stop_price,
        )
        down = sorted(
            (o for o in self.waiting if not rises(o) and o.stop_price >= min(first, last)),
            key=lambda o: -o.stop_price,
        )
        crossed = down + up if taker_side == "buy" else up + down
        for o in crossed:
            self.waiting.remove(o)
            events.append(Triggered(o.order_id, o.user_id))
            self.end_list(o.order_id, "cancelled", events)
            self.triggered.append(o)

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
        start = len(events)
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
        self.after_sweep(taker.side, events[start:], events)
