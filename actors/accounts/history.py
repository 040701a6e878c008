"""A shard's history: every closed order and every fill, kept out of memory.

The ledger archives a row when an order closes (its final view, fills included), when
a fill happens, and when an OCO list is over (done, both legs closed: its final view);
memory keeps only open orders and lists and what deduplication needs (every
``client_order_id`` ever used, ``User.closed_client_ids``).  This module is the
sans-I/O side: the rows, their one encoding, a page of a list, and the
:class:`HistoryStore` the ledger reads through; ``store.py`` keeps them on disk.

Invariants:
- A row is encoded once, by :func:`encode_row`, and the same bytes go to the store and
  to the archive; the ledger counts rows and bytes (``ShardState.archived``,
  ``archived_bytes``), so its snapshot says exactly which prefix of the archive it
  covers.
- Rows are immutable: an order is archived once, when it closes; a fill once.
- Order and fill ids grow with time within a shard, so a page from ``from_id`` (ids
  >= it, oldest first) followed by the next page from the last id + 1 sees every
  row once; without ``from_id`` a page is newest first.  Times are inclusive bounds.
- A store answers with what was added, committed or not: the ledger reads its own
  writes within a turn.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from actors.accounts.protocol import FillView, OrderListView, OrderView

MAX_PAGE = 1000


class ArchivedOrder(msgspec.Struct, tag="order", array_like=True, frozen=True, gc=False):
    user_id: int
    order: OrderView


class ArchivedFill(msgspec.Struct, tag="fill", array_like=True, frozen=True, gc=False):
    user_id: int
    fill: FillView


class ArchivedList(msgspec.Struct, tag="list", array_like=True, frozen=True, gc=False):
    user_id: int
    order_list: OrderListView


Archived = ArchivedOrder | ArchivedFill | ArchivedList

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Archived)
_order_decoder = msgspec.msgpack.Decoder(ArchivedOrder)
_fill_decoder = msgspec.msgpack.Decoder(ArchivedFill)
_list_decoder = msgspec.msgpack.Decoder(ArchivedList)


def encode_row(row: Archived) -> bytes:
    return _encoder.encode(row)


def decode_row(body: bytes) -> Archived:
    return _decoder.decode(body)


def decode_order(body: bytes) -> OrderView:
    return _order_decoder.decode(body).order


def decode_fill(body: bytes) -> FillView:
    return _fill_decoder.decode(body).fill


def decode_list(body: bytes) -> OrderListView:
    return _list_decoder.decode(body).order_list


class Page(msgspec.Struct, frozen=True):
    """Which rows of one user a list wants."""

    market: str | None = None
    from_id: int | None = None  # ids >= this, oldest first; None: newest first
    start: int | None = None  # time >= start (ms)
    end: int | None = None  # time <= end (ms)
    limit: int = 100

    @property
    def size(self) -> int:
        return max(1, min(self.limit, MAX_PAGE))

    def takes(self, item_id: int, market: str, time: int) -> bool:
        """Whether an item passes every bound of the page (not the limit)."""
        return (
            (self.market is None or market == self.market)
            and (self.from_id is None or item_id >= self.from_id)
            and (self.start is None or time >= self.start)
            and (self.end is None or time <= self.end)
        )


class HistoryStore(Protocol):
    def add(self, row: Archived, body: bytes) -> None:
        """Keep ``row`` (``body`` is its encoding)."""

    def order(self, user_id: int, order_id: int) -> OrderView | None: ...

    def order_by_client_id(self, user_id: int, client_order_id: str) -> OrderView | None: ...

    def orders(self, user_id: int, page: Page) -> list[OrderView]:
        """Closed orders of the page, in its order, at most ``page.size``."""

    def fills(self, user_id: int, page: Page) -> list[FillView]: ...

    def order_list(self, user_id: int, list_id: int) -> OrderListView | None: ...


def merge_page(stored: list[OrderView], live: list[OrderView], page: Page) -> list[OrderView]:
    """The page's orders from the store's closed ones and memory's open ones (each
    already in the page's order): ids never repeat between the two."""
    newest_first = page.from_id is None
    merged = sorted([*stored, *live], key=lambda order: order.order_id, reverse=newest_first)
    return merged[: page.size]
