"""The JSON renderers: exact decimals, change in integers, channel first."""

from __future__ import annotations

import json

import msgspec
import pytest

from actors.accounts.protocol import BalanceView, FillView, OrderView
from actors.engine.protocol import DepthReply
from api.wire import balance_out, fill_out, order_out
from bourse.market import Market
from feed.protocol import KlineRow, TickerRow, TradeRow
from feed.wire import (
    balance_push,
    change_text,
    depth_out,
    fill_push,
    kline_out,
    kline_push,
    order_push,
    ticker_out,
    trade_out,
    trade_push,
)

BTC = Market("BTC-USDT", "BTC", "USDT", 8, 6, 2, 4, 10_000, 10_000, 1_000_000, 1000, 2000)


@pytest.mark.parametrize(
    ("last", "open_", "text"),
    [
        (10235, 10000, "0.0235"),
        (9900, 10000, "-0.0100"),
        (10000, 10000, "0.0000"),
        (5, 0, "0.0000"),
        (0, 0, "0.0000"),
        (100005, 100000, "0.0001"),  # 0.00005: half away from zero
        (99995, 100000, "-0.0001"),
        (1000049, 1000000, "0.0000"),  # 0.000049 rounds down
        (30000, 10000, "2.0000"),
        (0, 10000, "-1.0000"),
        (2, 3, "-0.3333"),
        (1, 3, "-0.6667"),
        (10**30 + 1, 10**30, "0.0000"),  # beyond any float's precision
    ],
)
def test_change_is_exact(last: int, open_: int, text: str) -> None:
    assert change_text(last, open_) == text


def test_trade_and_kline_shapes() -> None:
    row = TradeRow(42, 30_123_450_000, 1_500_000, "sell", 1_795_000_000_123)
    assert msgspec.json.decode(msgspec.json.encode(trade_out(row, BTC))) == {
        "trade_id": "42",
        "price": "30123.45",
        "qty": "0.0150",
        "taker_side": "sell",
        "time": 1_795_000_000_123,
    }
    push = msgspec.json.encode(trade_push(row, BTC))
    assert push.startswith(b'{"channel":"trades",')
    assert json.loads(push)["market"] == "BTC-USDT"
    kline = KlineRow(60_000, 1_000_000, 2_000_000, 500_000, 1_500_000, 100_000_000)
    assert msgspec.to_builtins(kline_out(kline, BTC)) == {
        "time": 60_000,
        "open": "1.00",
        "high": "2.00",
        "low": "0.50",
        "close": "1.50",
        "volume": "1.0000",
    }
    push = json.loads(msgspec.json.encode(kline_push(kline, BTC, "1m", True)))
    assert push["channel"] == "kline" and push["interval"] == "1m" and push["closed"] is True


def test_ticker_shape() -> None:
    row = TickerRow("BTC-USDT", 102_350_000, 100_000_000, 110_000_000, 90_000_000, 10**8, 10**8)
    assert msgspec.to_builtins(ticker_out(row, BTC)) == {
        "market": "BTC-USDT",
        "last": "102.35",
        "open": "100.00",
        "high": "110.00",
        "low": "90.00",
        "volume": "1.0000",
        "quote_volume": "100.000000",
        "change": "0.0235",
    }


def test_depth_out_limits_each_side() -> None:
    reply = DepthReply(
        "BTC-USDT", 9, False, [(200_000, 10_000), (100_000, 20_000)], [(300_000, 10_000)]
    )
    assert msgspec.json.decode(msgspec.json.encode(depth_out(reply, BTC, limit=1))) == {
        "market": "BTC-USDT",
        "seq": 9,
        "bids": [["0.20", "0.0001"]],
        "asks": [["0.30", "0.0001"]],
    }


FILL = FillView(7, 9, "BTC-USDT", "buy", 30_000_000_000, 1_500_000, 90_000, "USDT", "taker", 1_000)
ORDER = OrderView(
    9, "mine", "BTC-USDT", "buy", "limit", 30_000_000_000, 2_000_000, 0, 1_500_000,
    450_000_000, 90_000, "partially_filled", "GTC", False, "expire_taker", 900, 1_000, [FILL],
)  # fmt: skip
BALANCE = BalanceView("BTC", 10**8, 5)


@pytest.mark.parametrize(
    ("push", "rest", "channel"),
    [
        (order_push(ORDER, BTC), order_out(ORDER, BTC), "orders"),
        (fill_push(FILL, BTC), fill_out(FILL, BTC), "fills"),
        (balance_push(BALANCE, 8), balance_out(BALANCE, 8), "balances"),
    ],
)
def test_a_private_push_is_the_rest_object_with_channel_first(
    push: msgspec.Struct, rest: msgspec.Struct, channel: str
) -> None:
    body = msgspec.json.encode(rest)
    assert msgspec.json.encode(push) == b'{"channel":"%s",' % channel.encode() + body[1:]


def test_private_push_shapes() -> None:
    assert json.loads(msgspec.json.encode(balance_push(BALANCE, 8))) == {
        "channel": "balances",
        "asset": "BTC",
        "free": "1.00000000",
        "locked": "0.00000005",
    }
    order = json.loads(msgspec.json.encode(order_push(ORDER, BTC)))
    assert order["channel"] == "orders" and order["price"] == "30000.00"
    assert order["fills"] == [
        {
            "fill_id": "0",
            "trade_id": "7",
            "order_id": "9",
            "market": "BTC-USDT",
            "side": "buy",
            "price": "30000.00",
            "qty": "0.0150",
            "fee": "0.090000",
            "fee_asset": "USDT",
            "liquidity": "taker",
            "time": 1_000,
        }
    ]
