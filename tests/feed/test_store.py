"""SQLite history: what was committed is there after reopening; trades are trimmed."""

from __future__ import annotations

from pathlib import Path

import pytest

from feed import store as store_module
from feed.candles import Candle
from feed.protocol import KlineRow, TradeRow
from feed.store import FeedStore


def test_trades_and_klines_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "feed.sqlite"
    store = FeedStore(path)
    for i in range(1, 6):
        store.add_trade("BTC-USDT", TradeRow(i, 100 + i, 1, "buy", 1000 * i))
    store.add_trade("ETH-USDT", TradeRow(1, 7, 1, "sell", 5))
    candle = Candle(0, 1, 1, 1, 1, 1, 1)
    store.put_kline("BTC-USDT", "1m", candle)
    candle.close, candle.volume = 3, 2  # the newest state is what gets written
    store.put_kline("BTC-USDT", "1m", Candle(60_000, 3, 4, 2, 4, 9, 9))
    store.put_kline("BTC-USDT", "1h", Candle(0, 1, 4, 1, 4, 11, 11))
    store.commit()
    store.add_trade("BTC-USDT", TradeRow(99, 1, 1, "buy", 1))  # never committed
    store._db.close()  # as if killed: no commit of the queue

    again = FeedStore(path)
    assert [t.trade_id for t in again.load_trades("BTC-USDT")] == [1, 2, 3, 4, 5]
    assert again.load_trades("BTC-USDT", 2) == [
        TradeRow(4, 104, 1, "buy", 4000),
        TradeRow(5, 105, 1, "buy", 5000),
    ]
    current = again.load_current("BTC-USDT")
    assert current["1m"] == Candle(60_000, 3, 4, 2, 4, 9, 9)
    assert current["1h"].volume == 11
    assert again.load_minutes("BTC-USDT", 0)[0] == Candle(0, 1, 1, 1, 3, 2, 1)
    assert again.klines("BTC-USDT", "1m", None, None, 500) == [
        KlineRow(0, 1, 1, 1, 3, 2),
        KlineRow(60_000, 3, 4, 2, 4, 9),
    ]
    assert again.klines("BTC-USDT", "1m", None, None, 1) == [KlineRow(60_000, 3, 4, 2, 4, 9)]
    assert again.klines("BTC-USDT", "1m", 0, None, 1) == [KlineRow(0, 1, 1, 1, 3, 2)]
    assert again.klines("BTC-USDT", "1m", None, 59_999, 10) == [KlineRow(0, 1, 1, 1, 3, 2)]
    assert again.klines("ETH-USDT", "1m", None, None, 10) == []
    again.close()


def test_each_market_keeps_its_newest_trades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "KEEP_TRADES", 50)
    store = FeedStore(tmp_path / "feed.sqlite")
    for i in range(1, 2_501):
        store.add_trade("BTC-USDT", TradeRow(i, 1, 1, "buy", i))
        if i % 100 == 0:
            store.commit()
    store.add_trade("ETH-USDT", TradeRow(1, 1, 1, "buy", 1))
    store.commit()
    kept = store.load_trades("BTC-USDT")
    assert kept[-1].trade_id == 2_500
    assert 50 <= len(kept) <= 50 + store_module.TRIM_EVERY
    assert len(store.load_trades("ETH-USDT")) == 1
    store.close()
