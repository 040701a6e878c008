"""One side of an order book: price levels, FIFO queues, the best level in O(1).

Invariants:
- ``levels`` maps each price that has resting quantity to its :class:`Level`; a level
  with no orders is removed at once, so every level in ``levels`` is non-empty.
- ``level.total`` equals the sum of ``remaining`` over ``level.orders``, and every
  ``remaining`` is positive and at most the order's ``qty``.
- ``level.orders`` is insertion-ordered: iteration order is time priority.
- ``_keys`` holds exactly one key per price in ``levels``, ascending, with the best price
  last (bids keyed by price, asks by -price).
- ``top`` is the best level (highest bid, lowest ask), or None when the side is empty.

Chosen by measurement (bench/book_structures.py, docs/performance.md): a dict of levels
plus a sorted list of prices kept with ``bisect``, best last so that the common changes
near the touch move few elements, against a lazy heap of prices (as fast on average,
but purging its stale prices costs tens of microseconds now and then), a SortedDict of
levels and a best-first list (both slower); and a plain dict per level (insertion-ordered,
O(1) removal of any order) against a deque.
"""

from __future__ import annotations

from bisect import bisect_left, insort

import msgspec

from actors.engine.messages import SelfTradePrevention, Side


class RestingOrder(msgspec.Struct, gc=False):
    """An order in the book (or a taker being matched).  Mutable: matching lowers
    ``remaining``, an amend changes ``price`` and ``qty``.  It holds no references to
    other objects that could form a cycle, hence ``gc=False``.  ``expire_time`` is 0
    unless the order is GTD."""

    order_id: int
    user_id: int
    side: Side
    price: int
    qty: int
    remaining: int
    post_only: bool
    stp: SelfTradePrevention
    expire_time: int = 0


class Level:
    __slots__ = ("orders", "price", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.total = 0
        self.orders: dict[int, RestingOrder] = {}


class BookSide:
    __slots__ = ("_keys", "_sign", "levels", "side", "top")

    def __init__(self, side: Side) -> None:
        self.side: Side = side
        self.levels: dict[int, Level] = {}
        # Keys ascend with the best price last: bids keyed by price, asks by -price.  New
        # and emptied levels are mostly near the touch, at the end of the list, where
        # insort and del move few elements.
        self._sign = 1 if side == "buy" else -1
        self._keys: list[int] = []
        # The best level, kept current so that reading it costs one attribute load.
        self.top: Level | None = None

    def best(self) -> Level | None:
        return self.top

    def append(self, order: RestingOrder) -> Level:
        """Queue ``order`` at the back of its price level, creating the level if needed."""
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            keys = self._keys
            key = price * self._sign
            insort(keys, key)
            if keys[-1] == key:
                self.top = level
        level.orders[order.order_id] = order
        level.total += order.remaining
        return level

    def remove(self, order: RestingOrder) -> Level:
        """Take ``order`` out of its level; drop the level if it is now empty."""
        level = self.levels[order.price]
        orders = level.orders
        del orders[order.order_id]
        level.total -= order.remaining
        if not orders:
            self._drop(level)
        return level

    def drop_if_empty(self, level: Level) -> None:
        if not level.orders:
            self._drop(level)

    def _drop(self, level: Level) -> None:
        price = level.price
        del self.levels[price]
        keys = self._keys
        if level is self.top:
            keys.pop()
            self.top = self.levels[keys[-1] * self._sign] if keys else None
        else:
            del keys[bisect_left(keys, price * self._sign)]

    def prices_best_first(self) -> list[int]:
        sign = self._sign
        return [key * sign for key in reversed(self._keys)]

    def levels_best_first(self) -> list[Level]:
        levels = self.levels
        sign = self._sign
        return [levels[key * sign] for key in reversed(self._keys)]
