"""The feed's history on disk: trades and klines in SQLite, so they survive a restart.

Invariants:
- One file, ``<data_dir>/feed.sqlite``, in WAL mode with ``synchronous=NORMAL``: a
  committed transaction survives the process being killed (the OS holds the WAL).
- Writes are batched: ``add_trade`` / ``put_kline`` only queue; ``commit`` writes the
  queue in one transaction.  The feed commits a batch before it pushes any of the
  batch's trades or klines, so what a client saw is on disk.
- A trade and the klines it changed are written in the same transaction, so after a
  crash the klines and the trade history agree.
- Each market keeps about its newest ``KEEP_TRADES`` trades (trimmed every
  ``TRIM_EVERY`` inserts); klines are kept, one row per (market, interval, bucket).
- Each market's cursor (the market sequence number through which every trade was
  taken, ``feed/trades.py``) is written in the same transaction as the trades it
  covers, so after a crash the feed asks the engine for exactly what it lacks.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from feed.candles import Candle
from feed.protocol import KlineRow, TradeRow

KEEP_TRADES = 10_000
TRIM_EVERY = 1_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY,
    market TEXT NOT NULL,
    trade_id INTEGER NOT NULL,
    price INTEGER NOT NULL,
    qty INTEGER NOT NULL,
    taker_side TEXT NOT NULL,
    time INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS trades_by_market ON trades (market, id);
CREATE TABLE IF NOT EXISTS klines (
    market TEXT NOT NULL,
    interval TEXT NOT NULL,
    time INTEGER NOT NULL,
    open INTEGER NOT NULL,
    high INTEGER NOT NULL,
    low INTEGER NOT NULL,
    close INTEGER NOT NULL,
    volume INTEGER NOT NULL,
    quote_volume INTEGER NOT NULL,
    PRIMARY KEY (market, interval, time)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursors (
    market TEXT PRIMARY KEY,
    through INTEGER NOT NULL
) WITHOUT ROWID;
"""


class FeedStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._trades: list[tuple[str, int, int, int, str, int]] = []
        self._klines: dict[tuple[str, str, int], Candle] = {}
        self._cursors: dict[str, int] = {}
        self._since_trim: dict[str, int] = {}

    # --- writing ---------------------------------------------------------------------------

    def add_trade(self, market: str, row: TradeRow) -> None:
        self._trades.append((market, row.trade_id, row.price, row.qty, row.taker_side, row.time))
        self._since_trim[market] = self._since_trim.get(market, 0) + 1

    def put_kline(self, market: str, interval: str, candle: Candle) -> None:
        self._klines[(market, interval, candle.time)] = candle

    def set_cursor(self, market: str, through: int) -> None:
        self._cursors[market] = through

    @property
    def dirty(self) -> bool:
        return bool(self._trades or self._klines or self._cursors)

    def commit(self) -> None:
        if not self.dirty:
            return
        db = self._db
        db.execute("BEGIN")
        try:
            if self._trades:
                db.executemany(
                    "INSERT INTO trades (market, trade_id, price, qty, taker_side, time) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    self._trades,
                )
            if self._klines:
                db.executemany(
                    "INSERT OR REPLACE INTO klines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (m, i, c.time, c.open, c.high, c.low, c.close, c.volume, c.quote_volume)
                        for (m, i, _), c in self._klines.items()
                    ],
                )
            if self._cursors:
                db.executemany(
                    "INSERT OR REPLACE INTO cursors VALUES (?, ?)", list(self._cursors.items())
                )
            for market, count in list(self._since_trim.items()):
                if count >= TRIM_EVERY:
                    self._trim(market)
                    self._since_trim[market] = 0
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            self._trades.clear()
            self._klines.clear()
            self._cursors.clear()

    def _trim(self, market: str) -> None:
        self._db.execute(
            "DELETE FROM trades WHERE market = ? AND id < (SELECT id FROM trades "
            "WHERE market = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (market, market, KEEP_TRADES - 1),
        )

    # --- reading ---------------------------------------------------------------------------

    def load_trades(self, market: str, limit: int = KEEP_TRADES) -> list[TradeRow]:
        """The newest ``limit`` trades, oldest first."""
        rows = self._db.execute(
            "SELECT trade_id, price, qty, taker_side, time FROM trades WHERE market = ? "
            "ORDER BY id DESC LIMIT ?",
            (market, limit),
        ).fetchall()
        return [TradeRow(*row) for row in reversed(rows)]

    def load_cursor(self, market: str) -> tuple[int, int]:
        """The market's cursor (0 when none was written) and its newest trade's id."""
        row = self._db.execute("SELECT through FROM cursors WHERE market = ?", (market,))
        through = row.fetchone()
        newest = self._db.execute(
            "SELECT trade_id FROM trades WHERE market = ? ORDER BY id DESC LIMIT 1", (market,)
        ).fetchone()
        return (through[0] if through else 0), (newest[0] if newest else 0)

    def load_current(self, market: str) -> dict[str, Candle]:
        """The newest bucket of each interval."""
        rows = self._db.execute(
            "SELECT k.interval, k.time, k.open, k.high, k.low, k.close, k.volume, "
            "k.quote_volume FROM klines k JOIN (SELECT interval, MAX(time) AS time FROM "
            "klines WHERE market = ? GROUP BY interval) n ON k.interval = n.interval "
            "AND k.time = n.time WHERE k.market = ?",
            (market, market),
        ).fetchall()
        return {row[0]: Candle(*row[1:]) for row in rows}

    def load_minutes(self, market: str, since: int) -> list[Candle]:
        """1m buckets starting at or after ``since``, oldest first."""
        rows = self._db.execute(
            "SELECT time, open, high, low, close, volume, quote_volume FROM klines "
            "WHERE market = ? AND interval = '1m' AND time >= ? ORDER BY time",
            (market, since),
        ).fetchall()
        return [Candle(*row) for row in rows]

    def klines(
        self, market: str, interval: str, start: int | None, end: int | None, limit: int
    ) -> list[KlineRow]:
        """Oldest first: from ``start`` on when given, else the newest up to ``end``."""
        where = "market = ? AND interval = ?"
        args: list[object] = [market, interval]
        if start is not None:
            where += " AND time >= ?"
            args.append(start)
        if end is not None:
            where += " AND time <= ?"
            args.append(end)
        order = "ASC" if start is not None else "DESC"
        rows = self._db.execute(
            f"SELECT time, open, high, low, close, volume FROM klines WHERE {where} "
            f"ORDER BY time {order} LIMIT ?",
            (*args, limit),
        ).fetchall()
        if start is None:
            rows.reverse()
        return [KlineRow(*row) for row in rows]

    def close(self) -> None:
        self.commit()
        self._db.close()
