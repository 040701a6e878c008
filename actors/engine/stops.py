"""Conditional orders waiting for their trigger, in the order a moving price meets them.

A conditional order is triggered by the market's last trade price:

==========================  ====================  =====================
order                       triggers when last    waits in
==========================  ====================  =====================
stop buy, take-profit sell  >= stop price         ``rises`` (price up)
stop sell, take-profit buy  <= stop price         ``falls`` (price down)
==========================  ====================  =====================

Invariants:
- ``orders`` maps the id of every untriggered order to the order as placed (a
  :class:`Place` of a conditional type); each is in exactly one of the two queues, in the
  level of its stop price.
- A queue is a dict of stop-price levels, each an insertion-ordered dict of orders
  (FIFO within one stop price), plus the list of its level keys kept sorted with
  ``bisect``, the next level to trigger last: ``rises`` keyed by ``-stop`` (lowest stop
  next), ``falls`` by ``stop`` (highest next).  A level with no orders is removed at
  once.  So a trade finds what it crossed at the end of the list and pops it level by
  level, in O(1) per order plus the work triggered; adding and removing an order is a
  bisect and, for a new or emptied level, a memmove of the key list (the structure
  bench/book_structures.py chose for the book's sides).
- The queues are state only through their order: adding the orders of
  :meth:`StopBook.in_trigger_order` to an empty book, in that order, gives the same
  queues.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Final

from actors.engine.messages import OrderType, Place

# What a conditional order becomes once triggered.
TWIN: Final[dict[str, OrderType]] = {
    "stop_limit": "limit",
    "stop_market": "market",
    "take_profit_limit": "limit",
    "take_profit_market": "market",
}
# The side of each conditional type that a rising price triggers.
_RISING_SIDE: Final[dict[str, str]] = {
    "stop_limit": "buy",
    "stop_market": "buy",
    "take_profit_limit": "sell",
    "take_profit_market": "sell",
}


def would_trigger(order: Place, last_price: int) -> bool:
    """Whether ``order``'s condition holds at ``last_price`` (0: no trade yet, never)."""
    if last_price == 0:
        return False
    if _RISING_SIDE[order.type] == order.side:
        return last_price >= order.stop_price
    return last_price <= order.stop_price


class _Queue:
    """One direction's waiting orders; ``sign`` turns a stop price into its key."""

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.levels: dict[int, dict[int, Place]] = {}
        self.keys: list[int] = []  # ascending, the next level to trigger last

    def in_order(self) -> list[Place]:
        levels = self.levels
        sign = self.sign
        return [order for key in reversed(self.keys) for order in levels[key * sign].values()]


class StopBook:
    __slots__ = ("_falls", "_rises", "orders")

    def __init__(self) -> None:
        self.orders: dict[int, Place] = {}
        self._rises = _Queue(-1)
        self._falls = _Queue(1)

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, order: Place) -> None:
        queue = self._rises if _RISING_SIDE[order.type] == order.side else self._falls
        stop = order.stop_price
        level = queue.levels.get(stop)
        if level is None:
            level = queue.levels[stop] = {}
            insort(queue.keys, stop * queue.sign)
        level[order.order_id] = order
        self.orders[order.order_id] = order

    def remove(self, order_id: int) -> Place:
        order = self.orders.pop(order_id)
        queue = self._rises if _RISING_SIDE[order.type] == order.side else self._falls
        stop = order.stop_price
        level = queue.levels[stop]
        del level[order_id]
        if not level:
            del queue.levels[stop]
            keys = queue.keys
            del keys[bisect_left(keys, stop * queue.sign)]
        return order

    def pop_crossed(self, rising: bool, first: int, last: int) -> list[Place]:
        """Take out what a sweep from ``first`` to ``last`` (its first and last trade
        prices; ``rising`` for a buy) crossed, in the order it crossed them: for a
        rising sweep the falls at or above ``first``, highest first, then the rises at or
        below ``last``, lowest first; for a falling one the mirror."""
        if rising:
            crossed = self._pop(self._falls, first)
            crossed += self._pop(self._rises, -last)
        else:
            crossed = self._pop(self._rises, -first)
            crossed += self._pop(self._falls, last)
        return crossed

    def _pop(self, queue: _Queue, bound: int) -> list[Place]:
        """Take out every level of ``queue`` whose key is at least ``bound``."""
        keys = queue.keys
        if not keys or keys[-1] < bound:
            return []
        levels = queue.levels
        orders = self.orders
        sign = queue.sign
        popped: list[Place] = []
        while keys and keys[-1] >= bound:
            for order_id, order in levels.pop(keys.pop() * sign).items():
                del orders[order_id]
                popped.append(order)
        return popped

    def in_trigger_order(self) -> list[Place]:
        """Every untriggered order: the rises in queue order, then the falls."""
        return self._rises.in_order() + self._falls.in_order()
