"""Klines and the rolling ticker from trades at known times."""

from __future__ import annotations

from feed.candles import CLOSE_GRACE_MS, Candle, Candles
from feed.protocol import KlineRow, TickerRow

M = 60_000
H = 3_600_000
D = 86_400_000
SCALE = 100_000_000  # base units per whole unit
T0 = 1_795_000_000_000 // D * D  # a day boundary: every interval's bucket starts here


def updates(changes: list, interval: str) -> list[tuple[KlineRow, bool]]:  # type: ignore[type-arg]
    return [(c.candle.row(), c.closed) for c in changes if c.interval == interval]


def test_ohlcv_per_bucket_for_every_interval() -> None:
    candles = Candles("BTC-USDT", SCALE)
    trades = [  # (time, price, qty)
        (T0 + 1_000, 100, 5),
        (T0 + 30_000, 120, 1),
        (T0 + 59_999, 90, 2),
        (T0 + M, 95, 3),  # next minute
        (T0 + 5 * M + 7, 130, 4),  # next 5m bucket
        (T0 + H + 1, 80, 10),  # next hour
    ]
    changes = [c for t, p, q in trades for c in candles.add_trade(p, q, t)]
    one = [row for row, closed in updates(changes, "1m") if closed]
    assert one == [
        KlineRow(T0, 100, 120, 90, 90, 8),
        KlineRow(T0 + M, 95, 95, 95, 95, 3),
        KlineRow(T0 + 5 * M, 130, 130, 130, 130, 4),
    ]
    five = [row for row, closed in updates(changes, "5m") if closed]
    assert five == [KlineRow(T0, 100, 120, 90, 95, 11), KlineRow(T0 + 5 * M, 130, 130, 130, 130, 4)]
    assert candles.current["1h"].row() == KlineRow(T0 + H, 80, 80, 80, 80, 10)
    assert [row for row, closed in updates(changes, "1h") if closed] == [
        KlineRow(T0, 100, 130, 90, 130, 15)
    ]
    assert candles.current["1d"].row() == KlineRow(T0, 100, 130, 80, 80, 25)
    # Every trade updates the open bucket of all six intervals.
    assert sum(1 for c in changes if not c.closed) == 6 * len(trades)


def test_bucket_start_is_floor_of_time() -> None:
    candles = Candles("BTC-USDT", SCALE)
    candles.add_trade(1, 1, T0 + 4 * H + 15 * M + 59_999)
    assert candles.current["1m"].time == T0 + 4 * H + 15 * M
    assert candles.current["15m"].time == T0 + 4 * H + 15 * M
    assert candles.current["1h"].time == T0 + 4 * H
    assert candles.current["4h"].time == T0 + 4 * H
    assert candles.current["1d"].time == T0


def test_the_clock_closes_a_bucket_and_a_late_trade_corrects_it() -> None:
    candles = Candles("BTC-USDT", SCALE)
    candles.add_trade(100, 1, T0 + 10)
    assert candles.close_due(T0 + M) == []  # inside the grace period
    assert candles.next_close() == T0 + M + CLOSE_GRACE_MS
    closed = candles.close_due(T0 + M + CLOSE_GRACE_MS)
    assert [(c.interval, c.candle.row()) for c in closed] == [
        ("1m", KlineRow(T0, 100, 100, 100, 100, 1))
    ]
    assert candles.close_due(T0 + 2 * M) == []
    # A trade stamped inside the closed minute that reaches the feed late (or was missed
    # and fetched) still counts in its own minute: the correction is sent closed again.
    changes = candles.add_trade(200, 1, T0 + M - 5)
    assert updates(changes, "1m") == [(KlineRow(T0, 100, 200, 100, 200, 2), True)]
    assert candles.current["5m"].row() == KlineRow(T0, 100, 200, 100, 200, 2)
    assert candles.close_due(T0 + 3 * M) == []  # closed once by the clock
    # The next minute's trade opens a new bucket; the corrected one is not closed again.
    changes = candles.add_trade(300, 1, T0 + M + 1)
    assert updates(changes, "1m") == [(KlineRow(T0 + M, 300, 300, 300, 300, 1), False)]


def test_trade_times_never_go_backwards_in_buckets() -> None:
    candles = Candles("BTC-USDT", SCALE)
    candles.add_trade(100, 1, T0 + 2 * M)
    candles.add_trade(90, 1, T0 + M)  # the clock stepped back
    assert candles.current["1m"].row() == KlineRow(T0 + 2 * M, 100, 100, 90, 90, 2)


def test_ticker_rolls_over_the_last_24_hours() -> None:
    candles = Candles("BTC-USDT", SCALE)
    assert candles.ticker(T0) == TickerRow("BTC-USDT", 0, 0, 0, 0, 0, 0)
    candles.add_trade(100 * 10**6, SCALE, T0)  # 1 BTC at 100
    candles.add_trade(150 * 10**6, SCALE // 2, T0 + 2 * H)
    candles.add_trade(120 * 10**6, SCALE, T0 + 23 * H)
    now = T0 + 23 * H + 1
    assert candles.ticker(now) == TickerRow(
        "BTC-USDT",
        120 * 10**6,
        100 * 10**6,
        150 * 10**6,
        100 * 10**6,
        5 * SCALE // 2,
        (100 + 75 + 120) * 10**6,
    )
    # 24 h after the first trade's minute it leaves the window.
    later = T0 + D
    assert candles.ticker(later).open == 150 * 10**6
    assert candles.ticker(later).volume == 3 * SCALE // 2
    # Nothing for a day: last stays, volumes drop to zero.
    assert candles.ticker(T0 + 3 * D) == TickerRow(
        "BTC-USDT", 120 * 10**6, 120 * 10**6, 120 * 10**6, 120 * 10**6, 0, 0
    )


def test_restore_continues_the_open_buckets() -> None:
    candles = Candles("BTC-USDT", SCALE)
    minute = Candle(T0, 100, 110, 90, 105, 4, 400)
    candles.restore({"1m": Candle(T0, 100, 110, 90, 105, 4, 400)}, [minute], 105, T0 + 5)
    candles.add_trade(120, 1, T0 + 10)
    assert candles.current["1m"].row() == KlineRow(T0, 100, 120, 90, 120, 5)
    assert candles.ticker(T0 + 20).volume == 5
