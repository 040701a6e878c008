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
  :class:`Place` of a conditional type); each is in exactly one of the two queues.
- Each queue is sorted in the order a moving price meets its orders: ``rises`` by
  ascending stop price, ``falls`` by descending stop price, and within one stop price by
  arrival (FIFO).  Adding, removing and popping the next order cost O(log n), so a
  trade pops what it crosses in O(log n) per order popped.
- Arrival numbers only order the queues and are not state: adding the orders of
  :meth:`StopBook.in_trigger_order` to an empty book, in that order, gives the same
  queues.
"""

from __future__ import annotations

from typing import Final

from sortedcontainers import SortedList

from actors.engine.messages import OrderType, Place

# What a conditional order becomes once triggered.
TWIN: Final[dict[str, OrderType]] = {
    "stop_limit": "limit",
    "stop_market": "market",
    "take_profit_limit": "limit",
    "take_profit_market": "market",
}
_RISES: Final = frozenset(
    {
        ("stop_limit", "buy"),
        ("stop_market", "buy"),
        ("take_profit_limit", "sell"),
        ("take_profit_market", "sell"),
    }
)


def triggers_on_rise(order: Place) -> bool:
    return (order.type, order.side) in _RISES


def would_trigger(order: Place, last_price: int) -> bool:
    """Whether ``order``'s condition holds at ``last_price`` (0: no trade yet, never)."""
    if last_price == 0:
        return False
    if triggers_on_rise(order):
        return last_price >= order.stop_price
    return last_price <= order.stop_price


class StopBook:
    __slots__ = ("_arrivals", "_falls", "_keys", "_rises", "orders")

    def __init__(self) -> None:
        self.orders: dict[int, Place] = {}
        # Keys (stop price, arrival, order id) for rises and (-stop price, arrival,
        # order id) for falls: the next order to trigger is first in both.
        self._rises = SortedList()
        self._falls = SortedList()
        self._keys: dict[int, tuple[int, int, int]] = {}
        self._arrivals = 0

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, order: Place) -> None:
        self._arrivals += 1
        order_id = order.order_id
        if triggers_on_rise(order):
            key = (order.stop_price, self._arrivals, order_id)
            self._rises.add(key)
        else:
            key = (-order.stop_price, self._arrivals, order_id)
            self._falls.add(key)
        self.orders[order_id] = order
        self._keys[order_id] = key

    def remove(self, order_id: int) -> Place:
        order = self.orders.pop(order_id)
        key = self._keys.pop(order_id)
        (self._rises if key[0] > 0 else self._falls).remove(key)
        return order

    def pop_rises(self, price: int) -> list[Place]:
        """Take out every order that ``price`` reached from below, lowest stop first."""
        return self._pop(self._rises, price)

    def pop_falls(self, price: int) -> list[Place]:
        """Take out every order that ``price`` reached from above, highest stop first."""
        return self._pop(self._falls, -price)

    def _pop(self, queue: SortedList, bound: int) -> list[Place]:
        popped: list[Place] = []
        while queue and queue[0][0] <= bound:
            order_id = queue.pop(0)[2]
            del self._keys[order_id]
            popped.append(self.orders.pop(order_id))
        return popped

    def in_trigger_order(self) -> list[Place]:
        """Every untriggered order: the rises in queue order, then the falls."""
        orders = self.orders
        return [orders[key[2]] for queue in (self._rises, self._falls) for key in queue]
