"""Random command streams for one small market, and the checks run after every command.

The stream lives on a grid of eleven prices around ``MID`` so that many orders cross, and
uses four users so that self-trade prevention fires often.  Stop prices sit on the same
grid, so conditional orders trigger (and cascade) often; time advances by a few
milliseconds at a time so that GTD orders expire, some on a Tick and some before a
command.  It draws every decision from a :class:`Chooser`, so the same generator serves
``random.Random`` (long seeded runs) and Hypothesis (shrinkable runs).

Invariants checked by :func:`check_book` after every command:
- the book is not crossed;
- every level is non-empty, sits under its own price, and its total equals the sum of its
  orders' ``remaining``; every ``remaining`` is in ``(0, qty]``;
- the order index holds exactly the orders in the levels;
- each side lists exactly its prices, best first, and ``best()`` is the highest bid /
  lowest ask;
- no untriggered order is in the book, and none has a condition that holds against the
  last trade price;
- the expiry index holds exactly the GTD orders resting or waiting, none due yet;
- every live list has its limit leg in the book and its stop leg waiting.

And by :class:`Audit` over the events of every command:
- ``seq`` is contiguous across Trade and LevelChanged, ``trade_id`` across trades;
- every trade's quantity is positive and fills the taker and the maker by the same amount;
- no order ever trades past its quantity, and a resting order's ``qty - remaining`` is
  exactly what it traded; a Done order has traded ``qty - remaining``;
- a buy by quote amount never spends more than its budget;
- every order placed (alone or as a list's leg) is answered by Accepted or Rejected, and
  an accepted one ends the command resting, waiting untriggered or Done;
- an order is triggered only once accepted and before it traded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from hypothesis import strategies as st

from actors.engine.engine import MatchingEngine
from actors.engine.messages import (
    Accepted,
    Amend,
    Amended,
    Cancel,
    CancelAll,
    CancelList,
    Command,
    ConditionalType,
    Done,
    Event,
    Halt,
    LevelChanged,
    MarketStatus,
    Place,
    PlaceList,
    PlaceTimeInForce,
    Rejected,
    Resume,
    SelfTradePrevention,
    SetStatus,
    Side,
    Tick,
    Trade,
    Triggered,
)
from actors.engine.stops import would_trigger

T = TypeVar("T")

TICK = 10
LOT = 10
BASE_SCALE = 100
MID = 1000
USERS = (1, 2, 3, 4)
SIDES: tuple[Side, Side] = ("buy", "sell")
STPS: tuple[SelfTradePrevention, ...] = ("expire_taker", "expire_maker", "expire_both")
CONDITIONAL: tuple[ConditionalType, ...] = (
    "stop_limit",
    "stop_market",
    "take_profit_limit",
    "take_profit_market",
)
STATUSES: tuple[MarketStatus, ...] = ("trading", "halted", "cancel_only", "post_only")
START = 1_000_000  # the stream's first time, in ms


def new_engine() -> MatchingEngine:
    return MatchingEngine("TEST-QUOTE", TICK, LOT, BASE_SCALE)


class Chooser(Protocol):
    def randint(self, a: int, b: int) -> int: ...

    def choice(self, seq: Sequence[T]) -> T: ...


class DrawChooser:
    """A :class:`Chooser` that draws from Hypothesis, so failures shrink."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def randint(self, a: int, b: int) -> int:
        return self.data.draw(st.integers(a, b))

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.data.draw(st.integers(0, len(seq) - 1))]


class CommandStream:
    """Makes plausible commands: mostly valid, some aimed at dead or foreign orders, some
    off the grid.  Order ids are fresh except for deliberate duplicates.  ``now`` is the
    time to apply the latest command at."""

    def __init__(self, first_id: int = 1) -> None:
        self.next_id = first_id
        self.placed: list[tuple[int, int]] = []  # (order id, user id), oldest first
        self.live: Sequence[tuple[int, int]] = ()
        self.lists: list[tuple[int, int]] = []  # (list id, user id), oldest first
        self.now = START

    def next(self, r: Chooser, live: Sequence[tuple[int, int]], status: MarketStatus) -> Command:
        """The next command; ``live`` lists the resting and untriggered (order id, user
        id) pairs, ``status`` is the market's."""
        self.live = live
        self.now += r.choice((0, 0, 0, 1, 2, 5, 20))
        if status != "trading" and r.randint(0, 3) == 0:
            return r.choice((Resume(), SetStatus("trading")))
        roll = r.randint(0, 99)
        if roll < 37:
            return self._place(r, "limit")
        if roll < 45:
            return self._conditional(r)
        if roll < 49:
            return self._place_list(r)
        if roll < 50:
            return self._cancel_list(r)
        if roll < 52:
            return Tick()
        if roll < 61:
            return self._cancel(r)
        if roll < 71:
            return self._amend(r)
        if roll < 74:
            return self._place(r, "ioc")
        if roll < 76:
            return self._place(r, "fok")
        if roll < 80:
            return self._place(r, "post")
        if roll < 95:
            return self._place(r, r.choice(("market", "market_worst", "market_quote")))
        if roll < 96:
            return CancelAll(r.choice(USERS))
        if roll < 98:
            return Resume()
        if roll < 99:
            return SetStatus(r.choice(STATUSES))
        return Halt()

    def _price(self, r: Chooser, side: str = "") -> int:
        """A price on the grid; a limit order's leans to its own side of ``MID``."""
        if side == "buy":
            return MID - r.randint(-2, 5) * TICK
        if side == "sell":
            return MID + r.randint(-2, 5) * TICK
        return MID + r.randint(-5, 5) * TICK

    def _target(self, r: Chooser) -> tuple[int, int]:
        """An order id to cancel or amend, and its owner: mostly live, some gone or
        unknown."""
        roll = r.randint(0, 9)
        if self.live and roll < 7:
            return r.choice(self.live)
        if self.placed and roll < 9:
            return self.placed[-r.randint(1, min(30, len(self.placed)))]
        return self.next_id + 1_000_000, r.choice(USERS)

    def _user_for(self, r: Chooser, owner: int) -> int:
        return owner if r.randint(0, 9) else r.choice(USERS)

    def _order_id(self, r: Chooser, user: int, flaw: int) -> int:
        if flaw == 3 and self.placed:
            return self.placed[-r.randint(1, min(10, len(self.placed)))][0]
        order_id = self.next_id
        self.next_id += 1
        self.placed.append((order_id, user))
        return order_id

    def _expiry(self, r: Chooser) -> int:
        """A GTD order's expiry: mostly soon after now, now and then not after it."""
        return self.now + r.randint(-2, 200)

    def _place(self, r: Chooser, kind: str) -> Place:
        user = r.choice(USERS)
        side = r.choice(SIDES)
        stp = r.choice(STPS)
        price = self._price(r, side if kind in ("limit", "post") else "")
        qty = r.randint(1, 5) * LOT
        quote_qty = 0
        tif: PlaceTimeInForce = "GTC"
        expire_time = 0
        post_only = False
        order_type: str = "limit"
        if kind == "ioc":
            tif = "IOC"
        elif kind == "fok":
            tif = "FOK"
        elif kind == "post":
            post_only = True
        elif kind.startswith("market"):
            order_type = "market"
            tif = r.choice(("GTC", "IOC", "FOK"))
            if kind == "market" or side == "sell":
                price = 0
            elif kind == "market_quote":
                side, price, qty, quote_qty = "buy", 0, 0, r.randint(1, 800)
                tif = r.choice(("GTC", "IOC"))
        if kind in ("limit", "post") and r.randint(0, 3) == 0:
            tif, expire_time = "GTD", self._expiry(r)
        flaw = r.randint(0, 39)
        if flaw == 0:
            price += 1
        elif flaw == 1:
            qty += 1
        elif flaw == 2:
            qty = 0
        return Place(
            self._order_id(r, user, flaw),
            user,
            side,
            "market" if order_type == "market" else "limit",
            price,
            qty,
            quote_qty=quote_qty,
            time_in_force=tif,
            post_only=post_only,
            stp=stp,
            expire_time=expire_time,
        )

    def _conditional(self, r: Chooser) -> Place:
        user = r.choice(USERS)
        side = r.choice(SIDES)
        kind = r.choice(CONDITIONAL)
        # Wider than the prices orders rest at: some stops wait long, some never trigger.
        stop = MID + r.randint(-9, 9) * TICK
        qty = r.randint(1, 5) * LOT
        quote_qty = 0
        if kind.endswith("_limit"):
            price = self._price(r)
            tif: PlaceTimeInForce = r.choice(("GTC", "GTC", "IOC", "FOK", "GTD"))
        else:
            price = 0 if side == "sell" or r.randint(0, 1) else self._price(r)
            tif = r.choice(("GTC", "IOC", "FOK", "GTD"))
            if side == "buy" and price == 0 and r.randint(0, 2) == 0:
                qty, quote_qty = 0, r.randint(1, 800)
                tif = r.choice(("GTC", "IOC", "GTD"))
        expire_time = self._expiry(r) if tif == "GTD" else 0
        flaw = r.randint(0, 39)
        if flaw == 0:
            stop += 1
        elif flaw == 1:
            qty += 1
        elif flaw == 2:
            stop = 0
        return Place(
            self._order_id(r, user, flaw),
            user,
            side,
            kind,
            price,
            qty,
            quote_qty=quote_qty,
            time_in_force=tif,
            stp=r.choice(STPS),
            stop_price=stop,
            expire_time=expire_time,
        )

    def _place_list(self, r: Chooser) -> PlaceList:
        """An OCO list: a limit leg on its own side of ``MID``, a stop leg on the other."""
        user = r.choice(USERS)
        side = r.choice(SIDES)
        other = "sell" if side == "buy" else "buy"
        qty = r.randint(1, 5) * LOT
        tif: PlaceTimeInForce = r.choice(("GTC", "GTC", "GTD"))
        expire_time = self._expiry(r) if tif == "GTD" else 0
        flaw = r.randint(0, 19)
        stop_user = r.choice(USERS) if flaw == 0 else user
        stop_side = other if flaw == 1 else side
        limit_leg = Place(
            self._order_id(r, user, flaw),
            user,
            side,
            "limit",
            self._price(r, side),
            qty,
            time_in_force=tif,
            stp=r.choice(STPS),
            expire_time=expire_time,
        )
        market = r.randint(0, 1) == 0
        stop_leg = Place(
            self._order_id(r, stop_user, flaw),
            stop_user,
            stop_side,  # type: ignore[arg-type]
            "stop_market" if market else "stop_limit",
            0 if market else self._price(r, other),
            qty,
            time_in_force=tif,
            stp=r.choice(STPS),
            stop_price=self._price(r, other),
            expire_time=expire_time,
        )
        list_id = 10_000_000 + len(self.lists)
        self.lists.append((list_id, user))
        return PlaceList(list_id, limit_leg, stop_leg)

    def _cancel_list(self, r: Chooser) -> CancelList:
        if self.lists and r.randint(0, 9):
            list_id, owner = self.lists[-r.randint(1, min(10, len(self.lists)))]
            return CancelList(list_id, self._user_for(r, owner))
        return CancelList(1, r.choice(USERS))

    def _cancel(self, r: Chooser) -> Cancel:
        order_id, owner = self._target(r)
        return Cancel(order_id, self._user_for(r, owner))

    def _amend(self, r: Chooser) -> Amend:
        order_id, owner = self._target(r)
        qty = r.choice((0, 0, 1, 2, 3, 4, 6)) * LOT
        price = r.choice((0, 0, self._price(r)))
        if r.randint(0, 29) == 0:
            qty += 1
        return Amend(order_id, self._user_for(r, owner), qty=qty, price=price)


def check_book(engine: MatchingEngine) -> None:
    seen = 0
    for side, book in (("buy", engine.bids), ("sell", engine.asks)):
        assert book.side == side
        for price, level in book.levels.items():
            assert level.price == price
            assert level.orders, f"empty level {side} {price}"
            assert level.total == sum(o.remaining for o in level.orders.values())
            for order_id, order in level.orders.items():
                assert order.order_id == order_id
                assert order.side == side and order.price == price
                assert 0 < order.remaining <= order.qty
                assert engine.orders[order_id] is order
                seen += 1
        assert book.prices_best_first() == sorted(book.levels, reverse=side == "buy")
        best = book.best()
        if book.levels:
            want = max(book.levels) if side == "buy" else min(book.levels)
            assert best is not None and best.price == want
        else:
            assert best is None
    assert seen == len(engine.orders)
    bid, ask = engine.best_bid(), engine.best_ask()
    assert bid is None or ask is None or bid < ask, f"crossed: {bid} >= {ask}"
    waiting = engine.stops.in_trigger_order()
    assert len(waiting) == len(engine.stops.orders) == len(engine.stops)
    for order in waiting:
        assert engine.stops.orders[order.order_id] is order
        assert order.order_id not in engine.orders
        assert not would_trigger(order, engine.last_price), "a condition holds untriggered"
    gtd = [(o.expire_time, o.order_id) for o in engine.orders.values() if o.expire_time]
    gtd += [(o.expire_time, o.order_id) for o in waiting if o.expire_time]
    assert list(engine.expiry) == sorted(gtd)
    assert all(expire_time > engine.now for expire_time, _ in gtd), "an order outlived its time"
    for list_id, oco in engine.lists.items():
        assert oco.list_id == list_id
        limit_leg = engine.orders[oco.limit_id]
        stop_leg = engine.stops.orders[oco.stop_id]
        assert limit_leg.user_id == stop_leg.user_id == oco.user_id
        assert limit_leg.side == stop_leg.side


class Audit:
    """Follows the event stream of one engine and checks what each command produced."""

    def __init__(self, seq: int = 0, trade_id: int = 0) -> None:
        self.seq = seq
        self.trade_id = trade_id
        self.qty: dict[int, int] = {}  # order id -> quantity, for orders sized in base
        self.budget: dict[int, int] = {}  # order id -> quote budget
        self.traded: dict[int, int] = {}  # order id -> base traded
        self.spent: dict[int, int] = {}  # order id -> quote spent

    def check(self, engine: MatchingEngine, command: Command, events: list[Event]) -> None:
        placed = {order.order_id: order for order in _places(command)}
        answered: set[int] = set()
        accepted: set[int] = set()
        done: set[int] = set()
        for event in events:
            if isinstance(event, Accepted):
                order = placed[event.order_id]
                assert event.order_id not in answered, "answered twice"
                answered.add(event.order_id)
                accepted.add(event.order_id)
                done.discard(event.order_id)
                self.traded[order.order_id] = 0
                self.spent[order.order_id] = 0
                if order.quote_qty:
                    self.budget[order.order_id] = order.quote_qty
                    self.qty.pop(order.order_id, None)
                else:
                    self.qty[order.order_id] = order.qty
                    self.budget.pop(order.order_id, None)
            elif isinstance(event, Rejected) and event.order_id in placed:
                answered.add(event.order_id)
            elif isinstance(event, Triggered):
                assert self.traded[event.order_id] == 0, "traded before its trigger"
            if isinstance(event, Trade | LevelChanged):
                self.seq += 1
                assert event.seq == self.seq, "seq is contiguous"
            if isinstance(event, Trade):
                self.trade_id += 1
                assert event.trade_id == self.trade_id
                assert event.qty > 0
                for order_id in (event.maker_order_id, event.taker_order_id):
                    self.traded[order_id] += event.qty
                    self.spent[order_id] += event.price * event.qty // BASE_SCALE
                    if order_id in self.qty:
                        assert self.traded[order_id] <= self.qty[order_id], "overfilled"
                    else:
                        assert self.spent[order_id] <= self.budget[order_id], "overspent"
            elif isinstance(event, Amended):
                self.qty[event.order_id] = event.qty
                assert event.qty - event.remaining == self.traded[event.order_id]
            elif isinstance(event, Done):
                done.add(event.order_id)
                if event.order_id in self.qty:
                    filled = self.qty[event.order_id] - event.remaining
                    assert filled == self.traded[event.order_id]
                    if event.status == "filled":
                        assert event.remaining == 0
                else:
                    assert event.remaining == 0
        assert answered == placed.keys(), "a place gets an answer"
        for order_id in accepted:
            assert order_id in engine.orders or order_id in engine.stops.orders or order_id in done
        if isinstance(command, Cancel):
            assert events and isinstance(events[-1], Done | Rejected | LevelChanged)
        for order in engine.orders.values():
            assert order.qty - order.remaining == self.traded[order.order_id]
        assert engine.seq == self.seq and engine.trade_id == self.trade_id


def _places(command: Command) -> list[Place]:
    """The orders ``command`` places."""
    if isinstance(command, Place):
        return [command]
    if isinstance(command, PlaceList):
        return [command.limit, command.stop]
    return []
