"""The GTD orders of a market by expiry time, soonest first.

Invariants:
- Holds one entry ``(expire_time, order_id)`` for each GTD order that rests in the book
  or waits untriggered, and nothing else; the engine adds an order when it starts to
  rest or wait and removes it when it stops.
- Entries are sorted by expiry time, then order id: the order in which orders due at
  the same time expire.  Adding and removing cost O(log n), reading the first O(1).
- Not part of the snapshot: it is rebuilt from the orders' ``expire_time``.
"""

from __future__ import annotations

from collections.abc import Iterator

from sortedcontainers import SortedList


class ExpiryIndex:
    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries = SortedList()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._entries)

    def add(self, expire_time: int, order_id: int) -> None:
        self._entries.add((expire_time, order_id))

    def remove(self, expire_time: int, order_id: int) -> None:
        self._entries.remove((expire_time, order_id))

    def first(self) -> tuple[int, int] | None:
        """The entry that expires next, or None."""
        entries = self._entries
        return entries[0] if entries else None
