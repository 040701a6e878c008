"""Random command streams for one small market, and the checks run after every command.

The stream lives on a grid of eleven prices around ``MID`` so that many orders cross, and
uses four users so that self-trade prevention fires often.  It draws every decision from
a :class:`Chooser`, so the same generator serves ``random.Random`` (long seeded runs) and
Hypothesis (shrinkable runs).

Invariants checked by :func:`check_book` after every command:
- the book is not crossed;
- every level is non-empty, sits under its own price, and its total equals the sum of its
  orders' ``remaining``; every ``remaining`` is in ``(0, qty]``;
- the order index holds exactly the orders in the levels;
- each side lists exactly its prices, best first, and ``best()`` is the highest bid /
  lowest ask.

And by :class:`Audit` over the events of every command:
- ``seq`` is contiguous across Trade and LevelChanged, ``trade_id`` across trades;
- every trade's quantity is positive and fills the taker and the maker by the same amount;
- no order ever trades past its quantity, and a resting order's ``qty - remaining`` is
  exactly what it traded; a Done order has traded ``qty - remaining``;
- a buy by quote amount never spends more than its budget;
- a place is answered by Accepted or Rejected first, and an accepted one ends with its
  Done or rests.
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
    Command,
    Done,
    Event,
    Halt,
    LevelChanged,
    Place,
    Rejected,
    Resume,
    SelfTradePrevention,
    Side,
    TimeInForce,
    Trade,
)

T = TypeVar("T")

TICK = 10
LOT = 10
BASE_SCALE = 100
MID = 1000
USERS = (1, 2, 3, 4)
SIDES: tuple[Side, Side] = ("buy", "sell")
STPS: tuple[SelfTradePrevention, ...] = ("expire_taker", "expire_maker", "expire_both")


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
    off the grid.  Order ids are fresh except for deliberate duplicates."""

    def __init__(self, first_id: int = 1) -> None:
        self.next_id = first_id
        self.placed: list[tuple[int, int]] = []  # (order id, user id), oldest first
        self.live: Sequence[tuple[int, int]] = ()

    def next(self, r: Chooser, live: Sequence[tuple[int, int]], halted: bool) -> Command:
        """The next command; ``live`` lists the resting (order id, user id) pairs."""
        self.live = live
        if halted and r.randint(0, 3) == 0:
            return Resume()
        roll = r.randint(0, 99)
        if roll < 50:
            return self._place(r, "limit")
        if roll < 62:
            return self._cancel(r)
        if roll < 75:
            return self._amend(r)
        if roll < 78:
            return self._place(r, "ioc")
        if roll < 81:
            return self._place(r, "fok")
        if roll < 85:
            return self._place(r, "post")
        if roll < 96:
            return self._place(r, r.choice(("market", "market_worst", "market_quote")))
        if roll < 97:
            return CancelAll(r.choice(USERS))
        if roll < 99:
            return Resume()
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

    def _place(self, r: Chooser, kind: str) -> Place:
        user = r.choice(USERS)
        side = r.choice(SIDES)
        stp = r.choice(STPS)
        price = self._price(r, side if kind in ("limit", "post") else "")
        qty = r.randint(1, 5) * LOT
        quote_qty = 0
        tif: TimeInForce = "GTC"
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
        flaw = r.randint(0, 39)
        if flaw == 0:
            price += 1
        elif flaw == 1:
            qty += 1
        elif flaw == 2:
            qty = 0
        if flaw == 3 and self.placed:
            order_id = self.placed[-r.randint(1, min(10, len(self.placed)))][0]
        else:
            order_id = self.next_id
            self.next_id += 1
            self.placed.append((order_id, user))
        return Place(
            order_id,
            user,
            side,
            "market" if order_type == "market" else "limit",
            price,
            qty,
            quote_qty=quote_qty,
            time_in_force=tif,
            post_only=post_only,
            stp=stp,
        )

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
        if isinstance(command, Place):
            assert events, "a place gets an answer"
            first = events[0]
            assert isinstance(first, Accepted | Rejected)
            assert first.order_id == command.order_id
            if isinstance(first, Accepted):
                self.traded[command.order_id] = 0
                self.spent[command.order_id] = 0
                if command.quote_qty:
                    self.budget[command.order_id] = command.quote_qty
                    self.qty.pop(command.order_id, None)
                else:
                    self.qty[command.order_id] = command.qty
                    self.budget.pop(command.order_id, None)
        if isinstance(command, Cancel):
            assert events and isinstance(events[0], Done | Rejected)
        for event in events:
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
                if event.order_id in self.qty:
                    filled = self.qty[event.order_id] - event.remaining
                    assert filled == self.traded[event.order_id]
                    if event.status == "filled":
                        assert event.remaining == 0
                else:
                    assert event.remaining == 0
        if isinstance(command, Place) and isinstance(events[0], Accepted):
            last = events[-1]
            rested = command.order_id in engine.orders
            if rested:
                assert isinstance(last, LevelChanged) and last.price == command.price
            else:
                assert isinstance(last, Done) and last.order_id == command.order_id
        for order in engine.orders.values():
            assert order.qty - order.remaining == self.traded[order.order_id]
        assert engine.seq == self.seq and engine.trade_id == self.trade_id
