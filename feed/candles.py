"""Klines (1m 5m 15m 1h 4h 1d) and the rolling 24 h ticker of one market, from its trades.

Sans-I/O: trades and the clock come in as integers; nothing here reads a clock.

Invariants:
- A trade at ``time`` belongs to the bucket starting at ``time // interval * interval``;
  a bucket's open/close are its first/last trade's price, high/low the extremes, volume
  the sum of base quantities, quote volume the sum of ``price * qty // base_scale``.
- Klines are what the trades say: a trade is placed at ``max(time, last)``, ``last``
  being the latest trade time seen (the engine's clock never makes buckets go back), so
  its own time's bucket whenever trade times grow, as the engine stamps them.  Trades
  come in market sequence order (missed ones are fetched before newer ones are taken,
  ``feed/trades.py``), so a trade always lands in the newest bucket or a later one.
- A bucket is reported closed (``closed=True``) when a trade lands in a later bucket, or
  when ``close_due(now)`` finds its end passed by ``CLOSE_GRACE_MS``; a trade that still
  belongs to a bucket reported closed (it reached the feed late, or was missed and
  fetched) corrects it, and the correction is reported with ``closed=True`` again.
- The ticker covers the 1m buckets starting within the last 24 h (the current minute and
  the 1,439 before it): open = first open, high/low = extremes, volumes summed; ``last``
  is the last trade's price even when older than the window (then open = high = low =
  last and volumes are 0).  A market that never traded has an all-zero ticker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from feed.protocol import INTERVAL_MS, KlineRow, TickerRow

INTERVALS: tuple[str, ...] = tuple(INTERVAL_MS)
MINUTE_MS = INTERVAL_MS["1m"]
DAY_MS = 86_400_000
WINDOW_MINUTES = DAY_MS // MINUTE_MS
# Trades stamped just before a boundary may reach the feed just after it.
CLOSE_GRACE_MS = 500


@dataclass(slots=True)
class Candle:
    time: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int

    @classmethod
    def first(cls, time: int, price: int, qty: int, quote: int) -> Candle:
        return cls(time, price, price, price, price, qty, quote)

    def add(self, price: int, qty: int, quote: int) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += qty
        self.quote_volume += quote

    def row(self) -> KlineRow:
        return KlineRow(self.time, self.open, self.high, self.low, self.close, self.volume)


@dataclass(frozen=True, slots=True)
class KlineChange:
    interval: str
    candle: Candle
    closed: bool


def bucket_start(time: int, interval_ms: int) -> int:
    return time // interval_ms * interval_ms


class Candles:
    def __init__(self, market: str, base_scale: int) -> None:
        self.market = market
        self.base_scale = base_scale
        self.current: dict[str, Candle] = {}
        self.closed_until: dict[str, int] = dict.fromkeys(INTERVALS, 0)
        self.last_price = 0
        self.last_time = 0
        self._minutes: deque[Candle] = deque()  # 1m buckets, oldest first

    # --- restoring -------------------------------------------------------------------------

    def restore(
        self,
        current: dict[str, Candle],
        minutes: Iterable[Candle],
        last_price: int,
        last_time: int,
    ) -> None:
        """Load the newest bucket per interval and the recent 1m buckets (oldest first)."""
        self.current = dict(current)
        self.last_price = last_price
        self.last_time = last_time
        self._minutes = deque(minutes)
        one = self.current.get("1m")
        if one is not None and (not self._minutes or self._minutes[-1].time < one.time):
            self._minutes.append(one)
        elif one is not None and self._minutes[-1].time == one.time:
            self.current["1m"] = self._minutes[-1]
        for interval, candle in self.current.items():
            # Whatever was written before the restart is settled up to its bucket start.
            self.closed_until[interval] = max(self.closed_until[interval], candle.time)

    # --- trades and the clock -------------------------------------------------------------

    def add_trade(self, price: int, qty: int, time: int) -> list[KlineChange]:
        """Fold one trade in; the buckets it closed and those it updated (an update of a
        bucket already reported closed, a correction, says closed=True again)."""
        quote = price * qty // self.base_scale
        changes: list[KlineChange] = []
        at = max(time, self.last_time)
        self.last_time = at
        self.last_price = price
        for interval, interval_ms in INTERVAL_MS.items():
            start = bucket_start(at, interval_ms)
            candle = self.current.get(interval)
            if candle is not None and candle.time >= start:
                # its own bucket (or, after a restore ahead of the trades, the newest)
                candle.add(price, qty, quote)
                closed = self.closed_until[interval] >= candle.time + interval_ms
                changes.append(KlineChange(interval, candle, closed))
                continue
            if candle is not None and self.closed_until[interval] < candle.time + interval_ms:
                self.closed_until[interval] = candle.time + interval_ms
                changes.append(KlineChange(interval, candle, True))
            candle = Candle.first(start, price, qty, quote)
            self.current[interval] = candle
            if interval == "1m":
                self._minutes.append(candle)
                self._prune(start)
            changes.append(KlineChange(interval, candle, False))
        return changes

    def close_due(self, now: int) -> list[KlineChange]:
        """Close every current bucket whose end passed more than CLOSE_GRACE_MS ago."""
        changes: list[KlineChange] = []
        for interval, candle in self.current.items():
            end = candle.time + INTERVAL_MS[interval]
            if end + CLOSE_GRACE_MS <= now and self.closed_until[interval] < end:
                self.closed_until[interval] = end
                changes.append(KlineChange(interval, candle, True))
        return changes

    def next_close(self) -> int | None:
        """When the next ``close_due`` has work (a time in ms), or None."""
        ends = [
            candle.time + INTERVAL_MS[interval] + CLOSE_GRACE_MS
            for interval, candle in self.current.items()
            if self.closed_until[interval] < candle.time + INTERVAL_MS[interval]
        ]
        return min(ends) if ends else None

    # --- the ticker ----------------------------------------------------------------------

    def ticker(self, now: int) -> TickerRow:
        self._prune(bucket_start(now, MINUTE_MS))
        minutes = self._minutes
        last = self.last_price
        if not minutes:
            return TickerRow(self.market, last, last, last, last, 0, 0)
        high = max(c.high for c in minutes)
        low = min(c.low for c in minutes)
        volume = sum(c.volume for c in minutes)
        quote_volume = sum(c.quote_volume for c in minutes)
        return TickerRow(self.market, last, minutes[0].open, high, low, volume, quote_volume)

    def _prune(self, minute: int) -> None:
        since = minute - (WINDOW_MINUTES - 1) * MINUTE_MS
        minutes = self._minutes
        while minutes and minutes[0].time < since:
            minutes.popleft()
