"""One side of an order book: price levels, FIFO queues, the best price in O(1).

Invariants:
- ``levels`` maps each price that has resting quantity to its :class:`Level`; a level
  with no orders is removed at once, so every level in ``levels`` is non-empty.
- ``level.total`` equals the sum of ``remaining`` over ``level.orders``, and every
  ``remaining`` is positive.
- ``level.orders`` is insertion-ordered: iteration order is time priority.
- The price heap holds every price in ``levels`` (keyed so that the best price is the
  smallest key) and possibly stale prices whose level is gone; stale ones are dropped
  lazily when they reach the top, and a price is never in the heap twice.

Chosen by measurement (see docs/performance.md): a dict of levels plus a heap of prices
beat a SortedDict of levels on the place/cancel mix near the touch, because the best price
is read far more often than levels are created.
"""

from __future__ import annotations

from heapq import heappop, heappush

from actors.engine.messages import SelfTradePrevention, Side


class RestingOrder:
    __slots__ = ("order_id", "post_only", "price", "qty", "remaining", "side", "stp", "user_id")

    def __init__(
        self,
        order_id: int,
        user_id: int,
        side: Side,
        price: int,
        qty: int,
        remaining: int,
        post_only: bool,
        stp: SelfTradePrevention,
    ) -> None:
        self.order_id = order_id
        self.user_id = user_id
        self.side = side
        self.price = price
        self.qty = qty
        self.remaining = remaining
        self.post_only = post_only
        self.stp = stp


class Level:
    __slots__ = ("orders", "price", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.total = 0
        self.orders: dict[int, RestingOrder] = {}


class BookSide:
    __slots__ = ("_heap", "_in_heap", "_sign", "levels", "side")

    def __init__(self, side: Side) -> None:
        self.side: Side = side
        self.levels: dict[int, Level] = {}
        # Bids are keyed by -price so that the heap's smallest key is the best price.
        self._sign = -1 if side == "buy" else 1
        self._heap: list[int] = []
        self._in_heap: set[int] = set()

    def best(self) -> Level | None:
        heap = self._heap
        levels = self.levels
        sign = self._sign
        while heap:
            level = levels.get(heap[0] * sign)
            if level is not None:
                return level
            self._in_heap.discard(heappop(heap))
        return None

    def append(self, order: RestingOrder) -> Level:
        """Queue ``order`` at the back of its price level, creating the level if needed."""
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            key = price * self._sign
            if key not in self._in_heap:
                self._in_heap.add(key)
                heappush(self._heap, key)
        level.orders[order.order_id] = order
        level.total += order.remaining
        return level

    def remove(self, order: RestingOrder) -> Level:
        """Take ``order`` out of its level; drop the level if it is now empty."""
        level = self.levels[order.price]
        del level.orders[order.order_id]
        level.total -= order.remaining
        if not level.orders:
            del self.levels[order.price]
        return level

    def drop_if_empty(self, level: Level) -> None:
        if not level.orders:
            del self.levels[level.price]

    def prices_best_first(self) -> list[int]:
        return sorted(self.levels, reverse=self._sign < 0)

    def levels_best_first(self) -> list[Level]:
        return [self.levels[price] for price in self.prices_best_first()]
