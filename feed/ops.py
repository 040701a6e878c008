"""What a WebSocket client may send, parsed and checked before anything acts on it.

Invariants:
- ``parse`` never raises: it returns a :class:`Subscribe`, :class:`Unsubscribe`,
  :class:`Authenticate`, :class:`Ping`, or an :class:`OpError` whose message names the
  problem (too large, nested too deep, bad JSON, unknown op, channel, market or
  interval, a missing field).
- A message past ``max_bytes`` is not parsed, and one nested past ``max_depth`` never
  reaches the JSON parser (``bourse.jsondepth``): neither can cost more than its size.
- A public channel (depth, trades, ticker, kline) always names a known market, and
  ``kline`` a known interval; a private channel (orders, balances, fills) names no
  market.  Whether the connection is authenticated is for the caller to check.
- Fields a client adds beyond these are ignored.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import msgspec

from bourse.jsondepth import nests_deeper
from feed.protocol import INTERVAL_MS

PUBLIC_CHANNELS = ("depth", "trades", "ticker", "kline")
PRIVATE_CHANNELS = ("orders", "balances", "fills")
OPS = ("subscribe", "unsubscribe", "auth", "ping")


class _Message(msgspec.Struct, frozen=True):
    op: str
    channel: str | None = None
    market: str | None = None
    interval: str | None = None
    api_key: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelRequest:
    channel: str
    market: str | None
    interval: str | None

    @property
    def private(self) -> bool:
        return self.channel in PRIVATE_CHANNELS


@dataclass(frozen=True, slots=True)
class Subscribe(ChannelRequest):
    pass


@dataclass(frozen=True, slots=True)
class Unsubscribe(ChannelRequest):
    pass


@dataclass(frozen=True, slots=True)
class Authenticate:
    api_key: str


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class OpError:
    message: str
    channel: str | None = None
    market: str | None = None
    limit: str | None = None  # the setting a message broke, when it broke one


ClientOp = Subscribe | Unsubscribe | Authenticate | Ping | OpError

_decoder = msgspec.json.Decoder(_Message)


def parse(
    data: str | bytes, markets: Collection[str], *, max_bytes: int, max_depth: int
) -> ClientOp:
    size = len(data.encode() if isinstance(data, str) else data)
    if size > max_bytes:
        too_large = f"message too large: {size} bytes, at most {max_bytes}"
        return OpError(too_large, limit="max_message_bytes")
    if nests_deeper(data, max_depth):
        too_deep = f"message nests deeper than {max_depth} levels"
        return OpError(too_deep, limit="max_message_depth")
    try:
        message = _decoder.decode(data)
    except msgspec.ValidationError as error:
        return OpError(f"invalid message: {error}")
    except msgspec.DecodeError as error:
        return OpError(f"invalid JSON: {error}")
    op = message.op
    if op == "ping":
        return Ping()
    if op == "auth":
        if not message.api_key:
            return OpError("auth needs an api_key")
        return Authenticate(message.api_key)
    if op not in ("subscribe", "unsubscribe"):
        return OpError(f"unknown op {op!r}: expected one of {', '.join(OPS)}")
    return _channel_request(op, message, markets)


def _channel_request(op: str, message: _Message, markets: Collection[str]) -> ClientOp:
    channel, market, interval = message.channel, message.market, message.interval
    if channel is None:
        return OpError(f"{op} needs a channel", market=market)
    if channel in PRIVATE_CHANNELS:
        market = interval = None
    elif channel in PUBLIC_CHANNELS:
        if market is None:
            return OpError(f"channel {channel} needs a market", channel=channel)
        if market not in markets:
            known = ", ".join(sorted(markets))
            return OpError(f"unknown market {market!r}: expected one of {known}", channel=channel)
        if channel == "kline":
            if interval is None:
                return OpError(
                    f"channel kline needs an interval ({', '.join(INTERVAL_MS)})",
                    channel=channel,
                    market=market,
                )
            if interval not in INTERVAL_MS:
                return OpError(
                    f"unknown interval {interval!r}: expected one of {', '.join(INTERVAL_MS)}",
                    channel=channel,
                    market=market,
                )
        else:
            interval = None
    else:
        expected = ", ".join(PUBLIC_CHANNELS + PRIVATE_CHANNELS)
        return OpError(f"unknown channel {channel!r}: expected one of {expected}")
    if op == "subscribe":
        return Subscribe(channel, market, interval)
    return Unsubscribe(channel, market, interval)
