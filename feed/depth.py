"""The ``depth`` channel of one market: conflated, sequenced updates over a shared book.

Sans-I/O: the caller hands in the level changes the BookSync applied and decides when a
conflation window ends; this module answers with encoded JSON messages.

Invariants:
- ``published`` is the book every depth subscriber holds: the last snapshot or update
  sent, at ``published.seq``.  Updates are shared by all subscribers, so a new subscriber
  is sent a snapshot of ``published`` (not of the live book), and the next shared update's
  ``prev_seq`` equals that snapshot's ``seq``.
- An update carries the net change of each level over its window (the new total, "0"
  when gone), only for levels whose total differs from ``published``; its ``seq`` is the
  last engine seq it covers and ``prev_seq`` the seq of the message before.  A window that
  saw changes always sends an update, with no levels when they cancelled out, so a
  subscriber's ``seq`` reaches the engine's once the market is quiet.
- The checksum of a message is computed from ``published`` after applying it, with the
  same strings the message carries (``Market.format_price`` / ``format_qty``).
- A snapshot is encoded and framed once per ``published`` state and reused until it
  changes, however many subscribers ask for it.
"""

from __future__ import annotations

import msgspec

from actors.engine.messages import LevelChanged
from bourse.market import Market
from feed.book import CHECKSUM_DEPTH, L2Book, Side, checksum
from feed.outbound import Frame
from feed.wire import DepthSnapshotPush, DepthUpdatePush, levels_out

_encode = msgspec.json.Encoder().encode


class DepthChannel:
    def __init__(self, market: Market) -> None:
        self.market = market
        self.published = L2Book()
        self.ready = False  # a snapshot exists to hand to subscribers
        self._pending: dict[tuple[Side, int], int] = {}
        self._pending_seq = 0
        self._snapshot: Frame | None = None

    def add(self, changes: list[LevelChanged], seq: int) -> bool:
        """Record applied changes up to engine ``seq``; True when a window just opened."""
        if not self.ready:
            return False
        opened = not self._pending and bool(changes)
        pending = self._pending
        for change in changes:
            pending[(change.side, change.price)] = change.total
        self._pending_seq = max(self._pending_seq, seq)
        return opened

    def flush(self) -> bytes | None:
        """End the window: the encoded update, or None when the window saw no change."""
        if not self._pending or not self.ready:
            self._pending.clear()
            return None
        book = self.published
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        for (side, price), total in self._pending.items():
            if book.get(side, price) == total:
                continue
            book.set(side, price, total)
            (bids if side == "buy" else asks).append((price, total))
        self._pending.clear()
        prev_seq = book.seq
        book.seq = max(self._pending_seq, prev_seq)
        self._snapshot = None
        bids.sort(reverse=True)
        asks.sort()
        return _encode(
            DepthUpdatePush(
                market=self.market.name,
                seq=book.seq,
                prev_seq=prev_seq,
                bids=levels_out(bids, self.market),
                asks=levels_out(asks, self.market),
                checksum=self.checksum(),
            )
        )

    def reset(self, live: L2Book) -> Frame:
        """Replace ``published`` by the live book (after a sync); the snapshot for everyone."""
        self.published = live.copy()
        self._pending.clear()
        self._pending_seq = live.seq
        self.ready = True
        self._snapshot = None
        return self.snapshot()

    def stale(self) -> None:
        """The live book lost sync: forget the open window; subscribers keep ``published``."""
        self._pending.clear()

    def snapshot(self) -> Frame:
        """The framed snapshot of ``published``, shared until it changes."""
        if self._snapshot is None:
            book = self.published
            payload = _encode(
                DepthSnapshotPush(
                    market=self.market.name,
                    seq=book.seq,
                    bids=levels_out(book.bids(), self.market),
                    asks=levels_out(book.asks(), self.market),
                    checksum=self.checksum(),
                )
            )
            self._snapshot = Frame(payload)
        return self._snapshot

    def checksum(self) -> int:
        book = self.published
        return checksum(
            levels_out(book.asks(CHECKSUM_DEPTH), self.market),
            levels_out(book.bids(CHECKSUM_DEPTH), self.market),
        )
