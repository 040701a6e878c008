"""Client ops: every malformed message is named, never raised."""

from __future__ import annotations

import pytest

from feed import ops
from feed.ops import Authenticate, ClientOp, OpError, Ping, Subscribe, Unsubscribe

MARKETS = ("BTC-USDT", "ETH-USDT")
MAX_BYTES, MAX_DEPTH = 4096, 32


def parse(data: str | bytes, markets: tuple[str, ...]) -> ClientOp:
    return ops.parse(data, markets, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH)


def test_good_ops() -> None:
    assert parse('{"op":"ping"}', MARKETS) == Ping()
    assert parse(b'{"op":"subscribe","channel":"depth","market":"BTC-USDT"}', MARKETS) == (
        Subscribe("depth", "BTC-USDT", None)
    )
    assert parse(
        '{"op":"unsubscribe","channel":"kline","market":"ETH-USDT","interval":"4h","x":1}',
        MARKETS,
    ) == Unsubscribe("kline", "ETH-USDT", "4h")
    assert parse('{"op":"subscribe","channel":"orders"}', MARKETS) == Subscribe(
        "orders", None, None
    )
    assert parse('{"op":"auth","api_key":"1.abc"}', MARKETS) == Authenticate("1.abc")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{nope", "invalid JSON"),
        ("[1, 2]", "invalid message"),
        ('{"channel":"depth"}', "op"),
        ('{"op":"jump"}', "unknown op 'jump'"),
        ('{"op":"subscribe"}', "needs a channel"),
        ('{"op":"subscribe","channel":"news","market":"BTC-USDT"}', "unknown channel 'news'"),
        ('{"op":"subscribe","channel":"depth"}', "channel depth needs a market"),
        ('{"op":"subscribe","channel":"depth","market":"DOGE-USDT"}', "unknown market"),
        ('{"op":"subscribe","channel":"trades","market":7}', "market"),
        ('{"op":"subscribe","channel":"kline","market":"BTC-USDT"}', "needs an interval"),
        (
            '{"op":"subscribe","channel":"kline","market":"BTC-USDT","interval":"2m"}',
            "unknown interval '2m'",
        ),
        ('{"op":"auth"}', "api_key"),
        ('{"op":"ping","pad":"' + "x" * MAX_BYTES + '"}', "message too large"),
        ('{"op":"ping","x":' + "[" * 1000 + "]" * 1000 + "}", "nests deeper than 32"),
        ('{"op":"ping","x":' + "{" * 40 + "}" * 40 + "}", "nests deeper than 32"),
    ],
)
def test_bad_ops_name_the_problem(text: str, words: str) -> None:
    result = parse(text, MARKETS)
    assert isinstance(result, OpError)
    assert words in result.message
