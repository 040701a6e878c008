"""The history on disk: an SQLite database to query and an append-only archive to rebuild
it from, both written from the shard's committed journal.

Files, in the shard instance's own folder (``$BOURSE_DATA_DIR/<instance>/``):
- ``history.sqlite``: tables ``orders``, ``fills`` and ``lists`` (OCO lists), one row per
  archived row with
  the columns the queries use, its encoding (``body``) and ``idx``, the journal length
  that includes the record that made it (WAL mode; indexes for every query of
  ``history.Page``).
- ``history.archive``: every row's encoding as a journal frame (``[length][crc32][row]``,
  ``bourse.journal.frame``), in the order archived.

Invariants:
- Rows are added inside an open write transaction (the ledger reads them at once);
  :meth:`SqliteHistory.flush` commits it and appends the same rows to the archive.  The
  actor flushes after each journal commit, so neither holds anything the journal does
  not: a crash can at most lose a tail, which the replay adds again.
- The archive is the store's source: :meth:`reconcile` makes the store hold exactly
  the rows a snapshot covers (the archive's prefix of ``archived`` rows and
  ``archived_bytes``) before the journal after it is replayed, rebuilding the store from
  the archive when it was lost or disagrees.  The archive is made durable before a
  snapshot begins (:meth:`sync`), so the journal segments that snapshot lets go are
  never the only record of a row.
- Nothing here decides anything the ledger's state depends on: the store only answers
  reads, so a replay reaches the same state whatever it holds.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from actors.accounts.history import (
    Archived,
    ArchivedFill,
    ArchivedList,
    ArchivedOrder,
    Page,
    decode_fill,
    decode_list,
    decode_order,
    decode_row,
)
from actors.accounts.protocol import FillView, OrderListView, OrderView
from bourse.journal import FRAME_HEADER, frame, read_frames

log = logging.getLogger("history")

DATABASE = "history.sqlite"
ARCHIVE = "history.archive"
_READ_CHUNK = 1 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    market TEXT NOT NULL,
    client_order_id TEXT,
    created_at INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, order_id);
CREATE INDEX IF NOT EXISTS orders_by_market ON orders (user_id, market, order_id);
CREATE INDEX IF NOT EXISTS orders_by_time ON orders (user_id, created_at);
CREATE INDEX IF NOT EXISTS orders_by_client_id ON orders (user_id, client_order_id)
    WHERE client_order_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS fills (
    fill_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    market TEXT NOT NULL,
    time INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_by_user ON fills (user_id, fill_id);
CREATE INDEX IF NOT EXISTS fills_by_market ON fills (user_id, market, fill_id);
CREATE INDEX IF NOT EXISTS fills_by_time ON fills (user_id, time);
CREATE TABLE IF NOT EXISTS lists (
    list_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    body BLOB NOT NULL
);
"""
_TABLES = ("orders", "fills", "lists")

_INSERT_ORDER = "INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_FILL = "INSERT OR REPLACE INTO fills VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_LIST = "INSERT OR REPLACE INTO lists VALUES (?, ?, ?, ?)"


class SqliteHistory:
    """The history store of one shard instance (``folder`` None: in memory, for a ledger
    that runs without an actor)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.index = 0  # the journal length of the record being applied (set by the actor)
        if folder is None:
            self._db = sqlite3.connect(":memory:", isolation_level=None)
            self._archive: int | None = None
        else:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(folder / DATABASE, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # The archive is the durable copy: the database may lose a tail in a crash
            # of the machine, which reconcile() notices and repairs.
            self._db.execute("PRAGMA synchronous=OFF")
            self._archive = os.open(folder / ARCHIVE, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._db.executescript(_SCHEMA)
        self._in_transaction = False
        self._archiving = self._archive is not None
        self._unarchived: list[bytes] = []

    # --- writing ----------------------------------------------------------------------------

    def add(self, row: Archived, body: bytes) -> None:
        if not self._in_transaction:
            self._db.execute("BEGIN")
            self._in_transaction = True
        match row:
            case ArchivedOrder(user_id=user_id, order=order):
                self._db.execute(
                    _INSERT_ORDER,
                    (
                        order.order_id,
                        user_id,
                        order.market,
                        order.client_order_id,
                        order.created_at,
                        self.index,
                        body,
                    ),
                )
            case ArchivedFill(user_id=user_id, fill=fill):
                self._db.execute(
                    _INSERT_FILL, (fill.fill_id, user_id, fill.market, fill.time, self.index, body)
                )
            case ArchivedList(user_id=user_id, order_list=oco):
                self._db.execute(_INSERT_LIST, (oco.list_id, user_id, self.index, body))
        if self._archiving:
            self._unarchived.append(body)

    def flush(self) -> None:
        """Commit what was added, and append it to the archive (written, not synced)."""
        if not self._in_transaction:
            return
        self._db.execute("COMMIT")
        self._in_transaction = False
        if self._archive is not None and self._unarchived:
            data = b"".join(frame(body) for body in self._unarchived)
            self._unarchived.clear()
            _write_all(self._archive, data)

    def sync(self) -> None:
        """Make the archive durable (before a snapshot that covers it begins)."""
        self.flush()
        if self._archive is not None:
            os.fdatasync(self._archive)

    def close(self) -> None:
        self.sync()
        self._db.close()
        if self._archive is not None:
            os.close(self._archive)
            self._archive = None

    # --- recovery ---------------------------------------------------------------------------

    def reconcile(self, covered: int, rows: int, archive_bytes: int) -> None:
        """Make the store hold exactly the rows of a snapshot at journal length ``covered``:
        the archive's first ``rows`` rows (``archive_bytes`` of encodings).  Rows the
        journal after it will add again are dropped from both."""
        self.flush()
        if self._archive is None:
            return
        length = archive_bytes + FRAME_HEADER * rows
        size = os.fstat(self._archive).st_size
        if size < length:
            log.error(
                "the history archive is shorter than the snapshot says: rows are lost",
                extra={"fields": {"bytes": size, "expected": length}},
            )
        elif size > length:
            os.ftruncate(self._archive, length)
        self._db.execute("BEGIN")
        for table in _TABLES:
            self._db.execute(f"DELETE FROM {table} WHERE idx > ?", (covered,))
        held = self._count()
        if held == rows:
            self._db.execute("COMMIT")
            return
        log.warning(
            "rebuilding the history store from its archive",
            extra={"fields": {"store_rows": held, "archive_rows": rows}},
        )
        self._clear()
        self.load(self.archived_rows())
        log.warning("history store rebuilt", extra={"fields": {"rows": self._count()}})

    def replace(self, archive: bytes) -> None:
        """Start afresh from another instance's archive (a standby installed from its
        leader's state): the archive file becomes ``archive``, the store its rows."""
        self.flush()
        if self._archive is None:
            return
        os.ftruncate(self._archive, 0)
        _write_all(self._archive, archive)
        os.fdatasync(self._archive)
        self._db.execute("BEGIN")
        self._clear()
        self.load(self.archived_rows())

    def load(self, bodies: Iterator[bytes]) -> None:
        """Insert rows (encodings) into the store only, tagged as covered by any snapshot
        (``idx`` 0)."""
        saved, self.index = self.index, 0
        self._archiving = False  # they are archived already
        try:
            for count, body in enumerate(bodies, 1):
                self.add(decode_row(body), body)
                if count % 10_000 == 0:
                    self.flush()
            self.flush()
        finally:
            self.index, self._archiving = saved, True

    def archive_bytes(self) -> bytes:
        """The whole archive (what a standby installed from this one needs)."""
        self.flush()
        if self._archive is None:
            return b""
        return os.pread(self._archive, os.fstat(self._archive).st_size, 0)

    def archived_rows(self) -> Iterator[bytes]:
        """The archive's rows in order, up to its first damaged frame."""
        if self._archive is None:
            return
        offset = 0
        pending = b""
        while chunk := os.pread(self._archive, _READ_CHUNK, offset):
            offset += len(chunk)
            data = pending + chunk
            rows, end = read_frames(data)
            yield from rows
            pending = data[end:]
        if pending:
            log.error("the history archive ends in a damaged row", extra={"fields": {"at": offset}})

    def _clear(self) -> None:
        """Empty every table, ending the transaction the caller began."""
        for table in _TABLES:
            self._db.execute(f"DELETE FROM {table}")
        self._db.execute("COMMIT")

    def _count(self) -> int:
        return sum(
            int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in _TABLES
        )

    # --- reading ----------------------------------------------------------------------------

    def order(self, user_id: int, order_id: int) -> OrderView | None:
        row = self._db.execute(
            "SELECT body FROM orders WHERE order_id = ? AND user_id = ?", (order_id, user_id)
        ).fetchone()
        return None if row is None else decode_order(row[0])

    def order_by_client_id(self, user_id: int, client_order_id: str) -> OrderView | None:
        row = self._db.execute(
            "SELECT body FROM orders WHERE user_id = ? AND client_order_id = ?",
            (user_id, client_order_id),
        ).fetchone()
        return None if row is None else decode_order(row[0])

    def orders(self, user_id: int, page: Page) -> list[OrderView]:
        sql, args = _page_query("orders", "order_id", "created_at", user_id, page)
        return [decode_order(row[0]) for row in self._db.execute(sql, args)]

    def fills(self, user_id: int, page: Page) -> list[FillView]:
        sql, args = _page_query("fills", "fill_id", "time", user_id, page)
        return [decode_fill(row[0]) for row in self._db.execute(sql, args)]

    def order_list(self, user_id: int, list_id: int) -> OrderListView | None:
        row = self._db.execute(
            "SELECT body FROM lists WHERE list_id = ? AND user_id = ?", (list_id, user_id)
        ).fetchone()
        return None if row is None else decode_list(row[0])


def _page_query(
    table: str, id_column: str, time_column: str, user_id: int, page: Page
) -> tuple[str, list[object]]:
    where = ["user_id = ?"]
    args: list[object] = [user_id]
    if page.market is not None:
        where.append("market = ?")
        args.append(page.market)
    if page.from_id is not None:
        where.append(f"{id_column} >= ?")
        args.append(page.from_id)
    if page.start is not None:
        where.append(f"{time_column} >= ?")
        args.append(page.start)
    if page.end is not None:
        where.append(f"{time_column} <= ?")
        args.append(page.end)
    order = "ASC" if page.from_id is not None else "DESC"
    args.append(page.size)
    sql = (
        f"SELECT body FROM {table} WHERE {' AND '.join(where)} ORDER BY {id_column} {order} LIMIT ?"
    )
    return sql, args


def _write_all(descriptor: int, data: bytes) -> None:
    written = os.write(descriptor, data)
    while written < len(data):
        written += os.write(descriptor, data[written:])
