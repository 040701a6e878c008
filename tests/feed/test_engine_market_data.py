"""The engine actor's side of market data: the trades after sequence N, from what it
retains (across a crash and a restart from its journal and snapshots), and the heartbeat
a quiet engine publishes.

The actor runs in-process with its real journal, turn by turn as the runtime drives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.engine.actor import ROUTER, EngineActor
from actors.engine.messages import Place
from actors.engine.protocol import (
    BookMessage,
    EngineOutbound,
    EngineRequest,
    ErrorReply,
    Heartbeat,
    MarketEvents,
    PublicTrade,
    TradesQuery,
    TradesSince,
    book_topic,
    shard_identity,
)
from bourse.config import Config, load_config
from bourse.ids import make_user_id
from harness.cluster import write_config
from transport.runtime import Inbound, Outbox

MARKET = "BTC-USDT"
PRICE = 30_000 * 1_000_000
LOT = 10_000
RETAIN = 25
encode = msgspec.msgpack.Encoder().encode
decode = msgspec.msgpack.Decoder(EngineOutbound).decode
published = msgspec.msgpack.Decoder(BookMessage).decode


def config_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot_every: int) -> Config:
    monkeypatch.setenv("BOURSE_DATA_DIR", str(tmp_path / "data"))
    path = write_config(tmp_path, snapshot_every=snapshot_every)
    with path.open("a") as file:
        file.write(f"[market_data]\nretain_trades = {RETAIN}\nheartbeat_ms = 250\n")
    return load_config(path)


class Engine:
    """An EngineActor driven turn by turn, as the runtime would."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.actor = EngineActor(config, MARKET)
        self.actor.open_journal(config)
        self.seq = 0
        self.order_id = 0
        self.book: list[BookMessage] = []

    def place(self, side: str, user: int) -> Inbound:
        self.seq += 1
        self.order_id += 1
        command = Place(self.order_id, make_user_id(0, user), side, "limit", PRICE, LOT)  # type: ignore[arg-type]
        return Inbound(ROUTER, shard_identity(0), 0, encode(EngineRequest(0, self.seq, command)))

    def turn(self, batch: list[Inbound], now: int, idle: bool = False) -> list[Any]:
        out = Outbox()
        if idle:
            self.actor.on_idle(now, out)
        else:
            self.actor.on_batch(batch, now, out)
        self.actor.commit(out)
        self.book += [
            published(body) for topic, body in out.publications if topic == book_topic(MARKET)
        ]
        return [decode(body) for _, _, _, body in out.replies]

    def ask(self, after: int, limit: int = 1000, sender: str = "feed") -> Any:
        query = Inbound(ROUTER, b"feed", 9, encode(TradesQuery(after, limit)), sender=sender)
        replies = [r for r in self.turn([query], 0) if not hasattr(r, "request_seq")]
        assert len(replies) == 1, replies
        return replies[0]

    def crashed_and_recovered(self) -> None:
        self.actor.journal.close()
        self.actor = EngineActor(self.config, MARKET)
        self.actor.open_journal(self.config)


def trades_published(book: list[BookMessage]) -> list[PublicTrade]:
    return [
        e
        for message in book
        if isinstance(message, MarketEvents)
        for e in message.events
        if isinstance(e, PublicTrade)
    ]


@pytest.mark.parametrize("snapshot_every", [100_000, 7], ids=["journal-only", "snapshots"])
def test_the_trades_after_any_seq_come_from_what_the_engine_retains_across_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot_every: int
) -> None:
    engine = Engine(config_for(tmp_path, monkeypatch, snapshot_every))
    now = 1_000
    for _ in range(40):  # a resting sell and the buy that takes it: one trade each
        now += 10
        engine.turn([engine.place("sell", 1), engine.place("buy", 2)], now)
    trades = trades_published(engine.book)
    assert len(trades) == 40
    assert [t.trade_id for t in trades] == list(range(1, 41))
    kept = trades[-RETAIN:]
    horizon = trades[-RETAIN - 1].seq

    def check(answer: Any, after: int, limit: int) -> None:
        assert isinstance(answer, TradesSince), answer
        wanted = [t for t in kept if t.seq > after]
        assert answer.trades == wanted[:limit]
        assert answer.complete == (len(wanted) <= limit)
        assert answer.horizon == horizon
        assert answer.seq == engine.actor.engine.seq
        assert answer.trade_id == 40

    for after in (0, horizon - 1, horizon, kept[3].seq, trades[-1].seq, trades[-1].seq + 5):
        for limit in (1, 5, 1000):
            check(engine.ask(after, limit), after, limit)
    if snapshot_every < 100_000 and engine.actor.snapshot_writer is not None:
        engine.actor.reap_snapshot(wait=True)
    state = engine.actor.state_hash()
    engine.crashed_and_recovered()
    assert engine.actor.state_hash() == state
    for after in (0, kept[10].seq):
        check(engine.ask(after, 1000), after, 1000)


def test_only_the_feed_and_the_operator_ask_and_a_bad_query_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(config_for(tmp_path, monkeypatch, 100_000))
    assert isinstance(engine.ask(0, sender="operator"), TradesSince)
    refused = engine.ask(0, sender="gateway")
    assert isinstance(refused, ErrorReply) and refused.code == "FORBIDDEN"
    for after, limit in ((-1, 10), (0, 0), (0, 5001)):
        bad = engine.ask(after, limit)
        assert isinstance(bad, ErrorReply) and bad.code == "INVALID_FIELD", bad
    assert engine.actor.journal.next_index == 0, "queries are never journaled"


def test_a_quiet_engine_publishes_heartbeats_with_its_seq(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(config_for(tmp_path, monkeypatch, 100_000))
    engine.turn([engine.place("sell", 1), engine.place("buy", 2)], 10_000)
    assert isinstance(engine.book[-1], MarketEvents)
    seq = engine.actor.engine.seq
    engine.turn([], 10_100, idle=True)
    engine.turn([], 10_249, idle=True)
    assert len(engine.book) == 1, "no heartbeat within the period after a publication"
    engine.turn([], 10_250, idle=True)
    assert engine.book[-1] == Heartbeat(MARKET, seq, 10_250)
    # A busy turn that publishes nothing (a query) sends one too, once the period passed.
    engine.ask(0)
    assert len(engine.book) == 2
    engine.turn([], 10_500, idle=True)
    assert engine.book[-1] == Heartbeat(MARKET, seq, 10_500)
    assert len(engine.book) == 3
