"""What crosses the engine actor's sockets.

Invariants:
- Every message that moves money carries its sender's link sequence number: an
  :class:`EngineRequest` the shard's number for this engine, a :class:`Report` the
  engine's number for that shard.  Each receiver applies a number once, in order.
- A :class:`Report` goes to the accounts shard of every user an event concerns (the taker
  and every maker); ``request_seq`` is the request's own number on the report sent back
  to the shard that asked, and 0 on the others.
- What the engine publishes holds no user or order ids: level totals and public trades,
  each with the market's sequence number.
- A :class:`Tick` is never taken from a socket: the actor makes one from its own clock
  when an expiry is due (and journals it like any command).
"""

from __future__ import annotations

import msgspec

from actors.engine.messages import (
    Accepted,
    Amend,
    Amended,
    Cancel,
    CancelAll,
    CancelList,
    Done,
    Halt,
    LevelChanged,
    MarketStatus,
    Place,
    PlaceList,
    Rejected,
    Resume,
    SetStatus,
    Side,
    Tick,
    Trade,
    Triggered,
)
from actors.replication import PairStatus


class _Message(msgspec.Struct, frozen=True, gc=False, tag_field="t"):
    pass


class _Journaled(_Message, frozen=True, forbid_unknown_fields=True):
    """A message its receiver journals as received (a request to an engine, a report to a
    shard): a field it does not know refuses it whole, so no padding reaches a journal."""


# --- requests to the engine ---------------------------------------------------------------


class EngineRequest(_Journaled, tag="request", frozen=True):
    shard: int
    seq: int
    command: Place | Cancel | CancelAll | Amend | PlaceList | CancelList
    # The client's deadline, in ms on the gateway's clock (0: none): a request that
    # reaches the engine past it (less the clock skew allowed) is refused, never applied.
    deadline: int = 0
    epoch: int = 0  # the sending shard's leadership (set as it leaves; 0: no standby)


class DepthQuery(_Journaled, tag="depth_query", frozen=True):
    limit: int = 0  # 0: every level


class AdminRequest(_Journaled, tag="admin", frozen=True):
    command: Halt | Resume | SetStatus


class StatusQuery(_Journaled, tag="status_query", frozen=True):
    pass


class Sync(_Journaled, tag="sync", frozen=True):
    """From a shard: "I applied your reports up to ``applied``": the engine forgets
    those and resends those after it that it already kept at the shard's last Sync, or,
    with ``gap`` (the shard just refused a report that came past a gap), every report
    after ``applied`` at once."""

    shard: int
    applied: int
    gap: bool = False
    epoch: int = 0  # the sending shard's leadership


EngineInbound = EngineRequest | DepthQuery | AdminRequest | StatusQuery | Sync | Tick


# --- answers from the engine ----------------------------------------------------------------

PrivateEvent = Accepted | Rejected | Trade | Done | Amended | Triggered


class Report(_Journaled, tag="report", frozen=True):
    market: str
    seq: int
    request_seq: int
    time: int
    events: list[PrivateEvent]
    epoch: int = 0  # the sending engine's leadership (set as it leaves; 0: no standby)


class DepthReply(_Message, tag="depth", frozen=True):
    """``halted`` is ``status == "halted"``, for readers older than statuses."""

    market: str
    seq: int
    halted: bool
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    status: MarketStatus = "trading"


class EngineStatus(_Message, tag="status", frozen=True):
    """``open_orders`` counts the orders in the book; ``untriggered`` those waiting for
    their trigger."""

    market: str
    seq: int
    halted: bool
    open_orders: int
    bid_levels: int
    ask_levels: int
    commands: int
    status: MarketStatus = "trading"
    untriggered: int = 0
    pair: PairStatus | None = None


class Ack(_Message, tag="ack", frozen=True):
    pass


class ErrorReply(_Message, tag="error", frozen=True):
    code: str
    message: str


EngineOutbound = Report | DepthReply | EngineStatus | Ack | ErrorReply


# --- market data on the PUB socket ----------------------------------------------------------


class PublicTrade(_Message, tag="trade", frozen=True):
    seq: int
    trade_id: int
    price: int
    qty: int
    taker_side: Side
    time: int


class MarketEvents(_Message, tag="market_events", frozen=True):
    """One turn's public events of a market, in sequence order (topic ``book.<market>``)."""

    market: str
    time: int
    events: list[LevelChanged | PublicTrade]


def book_topic(market: str) -> bytes:
    return f"book.{market}".encode()


def trade_topic(market: str) -> bytes:
    return f"trade.{market}".encode()


def shard_identity(shard: int) -> bytes:
    return f"accounts-{shard}".encode()
