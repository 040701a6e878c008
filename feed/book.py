"""One market's L2 book as the feed sees it, kept in step with the engine (Clone pattern).

Sans-I/O: the caller feeds engine messages and snapshots in and acts on the returned
:class:`Step`; nothing here touches a socket or a clock.

Invariants:
- A :class:`L2Book` holds level totals only; a level with total 0 does not exist.  Its
  ``seq`` is the market sequence number of the last engine event it reflects (level
  changes and trades share the one counter).
- :class:`BookSync` is ``live`` only while every event since its snapshot was applied in
  order: each applied event's seq is exactly ``book.seq + 1``.  Anything else (an event
  past a gap, a frame-seq gap reported by the subscriber's GapDetector, a snapshot the
  buffered events do not continue) takes it out of ``live`` and asks for a snapshot.
- While not live, events are buffered (bounded: the oldest go first, and a buffer that
  no longer continues the snapshot just asks for another).  A snapshot drops the
  buffered events with ``seq <= snapshot.seq`` and applies the rest; only then is the
  book live again, and the step says ``reset`` so depth subscribers get a fresh snapshot.
- The checksum is CRC32 (unsigned) of the top ``CHECKSUM_DEPTH`` asks low to high then
  the top ``CHECKSUM_DEPTH`` bids high to low, each ``price:qty`` with the exact strings
  sent, joined with ``:``.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sortedcontainers import SortedDict

from actors.engine.messages import LevelChanged
from actors.engine.protocol import DepthReply, PublicTrade

Side = Literal["buy", "sell"]
CHECKSUM_DEPTH = 10
MAX_BUFFERED_EVENTS = 200_000

PublicEvent = LevelChanged | PublicTrade


def checksum(asks: Iterable[tuple[str, str]], bids: Iterable[tuple[str, str]]) -> int:
    """CRC32 of the levels as sent: asks low to high, then bids high to low."""
    parts = [f"{price}:{qty}" for price, qty in asks]
    parts.extend(f"{price}:{qty}" for price, qty in bids)
    return zlib.crc32(":".join(parts).encode()) & 0xFFFFFFFF


class L2Book:
    """Level totals per side; bids and asks iterate best first."""

    __slots__ = ("_asks", "_bids", "seq")

    def __init__(self) -> None:
        self._bids: Any = SortedDict()  # price -> total
        self._asks: Any = SortedDict()
        self.seq = 0

    @classmethod
    def from_levels(
        cls, seq: int, bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]]
    ) -> L2Book:
        book = cls()
        book.seq = seq
        book._bids.update((p, q) for p, q in bids if q > 0)
        book._asks.update((p, q) for p, q in asks if q > 0)
        return book

    def copy(self) -> L2Book:
        book = L2Book()
        book.seq = self.seq
        book._bids = self._bids.copy()
        book._asks = self._asks.copy()
        return book

    def set(self, side: Side, price: int, total: int) -> None:
        levels = self._bids if side == "buy" else self._asks
        if total > 0:
            levels[price] = total
        else:
            levels.pop(price, None)

    def get(self, side: Side, price: int) -> int:
        levels = self._bids if side == "buy" else self._asks
        total: int = levels.get(price, 0)
        return total

    def bids(self, limit: int | None = None) -> list[tuple[int, int]]:
        """Bids high to low."""
        levels = self._bids
        # islice slices before it reverses: take the top of the key range.
        start = None if limit is None else max(0, len(levels) - limit)
        return [(p, levels[p]) for p in levels.islice(start=start, reverse=True)]

    def asks(self, limit: int | None = None) -> list[tuple[int, int]]:
        """Asks low to high."""
        levels = self._asks
        return [(p, levels[p]) for p in levels.islice(stop=limit)]

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)


@dataclass(slots=True)
class Step:
    """What the caller does after feeding the sync one message or snapshot."""

    applied: list[LevelChanged] = field(default_factory=list)  # applied in order
    want_snapshot: bool = False  # ask the engine for a snapshot now
    reset: bool = False  # the book was rebuilt: send depth subscribers a new snapshot


class BookSync:
    """The feed's copy of one engine's book; see the module invariants."""

    def __init__(self, market: str) -> None:
        self.market = market
        self.book = L2Book()
        self.live = False
        self.fetching = False
        self._buffer: deque[PublicEvent] = deque(maxlen=MAX_BUFFERED_EVENTS)

    def start(self) -> Step:
        """The first step: nothing is known yet, a snapshot is needed."""
        return self._want()

    def on_events(self, events: Sequence[PublicEvent], contiguous: bool = True) -> Step:
        """One engine message's events in order; ``contiguous`` is False after a frame gap."""
        if self.live and not contiguous:
            self._lose_sync()
        if not self.live:
            self._buffer.extend(events)
            return self._want()
        book = self.book
        applied: list[LevelChanged] = []
        for index, event in enumerate(events):
            if event.seq <= book.seq:
                continue
            if event.seq != book.seq + 1:
                self._lose_sync()
                self._buffer.extend(events[index:])
                return Step(applied, want_snapshot=self._claim_fetch())
            book.seq = event.seq
            if isinstance(event, LevelChanged):
                book.set(event.side, event.price, event.total)
                applied.append(event)
        return Step(applied)

    def on_snapshot(self, reply: DepthReply) -> Step:
        """Rebuild from an engine snapshot and the buffered events that continue it."""
        self.fetching = False
        book = L2Book.from_levels(reply.seq, reply.bids, reply.asks)
        buffer = self._buffer
        while buffer and buffer[0].seq <= reply.seq:
            buffer.popleft()
        while buffer:
            event = buffer[0]
            if event.seq != book.seq + 1:
                # The buffer does not continue this snapshot: ask again, keep what is newer.
                self.book = book
                return self._want()
            buffer.popleft()
            book.seq = event.seq
            if isinstance(event, LevelChanged):
                book.set(event.side, event.price, event.total)
        self.book = book
        self.live = True
        return Step(reset=True)

    def force_resync(self) -> Step:
        """Drop out of live (an audit found the engine elsewhere) and ask for a snapshot."""
        self._lose_sync()
        return self._want()

    def _lose_sync(self) -> None:
        self.live = False
        self._buffer.clear()

    def _want(self) -> Step:
        return Step(want_snapshot=self._claim_fetch())

    def _claim_fetch(self) -> bool:
        if self.fetching:
            return False
        self.fetching = True
        return True
