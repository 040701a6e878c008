"""The engine actor and time: every turn's time reaches the engine, a due expiry becomes
a Tick journaled like any command, and the journal replays to the same state.

The actor runs in-process with its real journal (and, with a small ``snapshot_every``,
its forked snapshot writer) for the replay; a real engine process on real sockets shows
an order expiring on an idle market.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
from engine_streams import CommandStream

from actors.engine.actor import ROUTER, EngineActor
from actors.engine.messages import (
    Amend,
    Cancel,
    CancelAll,
    CancelList,
    Command,
    Done,
    Halt,
    Place,
    PlaceList,
    Resume,
    SetStatus,
    Tick,
    Triggered,
)
from actors.engine.protocol import (
    AdminRequest,
    DepthQuery,
    DepthReply,
    EngineOutbound,
    EngineRequest,
    EngineStatus,
    ErrorReply,
    Report,
    StatusQuery,
    shard_identity,
)
from bourse.config import Config, load_config
from bourse.ids import USER_SHIFT, make_user_id, shard_of_user
from harness.cluster import cluster, write_config
from transport.framing import pack_rid, unpack_message
from transport.runtime import Inbound, Outbox

MARKET = "BTC-USDT"
SCALE = 1_000  # the stream's grid (tick 10, lot 10) onto BTC-USDT's (tick 10,000, lot 10,000)
PRICE = 30_000 * 1_000_000  # 30,000 USDT
LOT = 10_000  # 0.0001 BTC
USER_NUMBER = (1 << USER_SHIFT) - 1  # a user id without its shard: the stream's user
encode = msgspec.msgpack.Encoder().encode
decode = msgspec.msgpack.Decoder(EngineOutbound).decode


def config_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot_every: int) -> Config:
    monkeypatch.setenv("BOURSE_DATA_DIR", str(tmp_path / "data"))
    return load_config(write_config(tmp_path, snapshot_every=snapshot_every))


def on_market(command: Command) -> Command:
    """A stream command moved onto BTC-USDT's grid, its users spread over two shards."""
    match command:
        case Place():
            return msgspec.structs.replace(
                command,
                user_id=make_user_id(command.user_id % 2, command.user_id),
                price=command.price * SCALE,
                qty=command.qty * SCALE,
                quote_qty=command.quote_qty * SCALE * SCALE,
                stop_price=command.stop_price * SCALE,
            )
        case PlaceList():
            limit, stop = on_market(command.limit), on_market(command.stop)
            assert isinstance(limit, Place) and isinstance(stop, Place)
            return PlaceList(command.list_id, limit, stop)
        case Cancel() | Amend() | CancelAll() | CancelList():
            user_id = make_user_id(command.user_id % 2, command.user_id)
            if isinstance(command, Amend):
                return Amend(command.order_id, user_id, command.qty * SCALE, command.price * SCALE)
            return msgspec.structs.replace(command, user_id=user_id)
    return command


class Engine:
    """An EngineActor driven turn by turn, as the runtime would."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.actor = EngineActor(config, MARKET)
        self.actor.open_journal(config)
        self.seqs = {0: 0, 1: 0}

    def request(self, command: Command) -> Inbound:
        match command:
            case PlaceList():
                user_id = command.limit.user_id
            case Place() | Cancel() | Amend() | CancelAll() | CancelList():
                user_id = command.user_id
            case _:
                raise AssertionError(command)
        shard = shard_of_user(user_id)
        self.seqs[shard] += 1
        body = encode(EngineRequest(shard, self.seqs[shard], command))
        return Inbound(ROUTER, shard_identity(shard), 0, body)

    def turn(self, batch: list[Inbound], now: int) -> list[Any]:
        out = Outbox()
        self.actor.on_batch(batch, now, out)
        self.actor.commit(out)
        return [decode(body) for _, _, _, body in out.replies]

    def idle(self, now: int) -> list[Any]:
        out = Outbox()
        self.actor.on_idle(now, out)
        self.actor.commit(out)
        return [decode(body) for _, _, _, body in out.replies]

    def restarted(self) -> EngineActor:
        """The actor as a crash would leave it (journal closed, nothing else), recovered."""
        self.actor.journal.close()
        again = EngineActor(self.config, MARKET)
        again.open_journal(self.config)
        return again


def events_of(replies: list[Any], kind: type) -> list[Any]:
    return [e for r in replies if isinstance(r, Report) for e in r.events if isinstance(e, kind)]


@pytest.mark.parametrize("snapshot_every", [100_000, 40], ids=["journal-only", "snapshots"])
def test_a_journal_of_conditional_orders_gtd_and_ticks_replays_to_the_same_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot_every: int
) -> None:
    engine = Engine(config_for(tmp_path, monkeypatch, snapshot_every))
    r = random.Random(11)
    stream = CommandStream()
    operator = Inbound(ROUTER, b"operator", 1, b"")
    expired_on_idle = triggered = 0
    for _ in range(2_000):
        book = engine.actor.engine
        waiting = list(book.orders.values()) + list(book.stops.orders.values())
        live = [(o.order_id, o.user_id & USER_NUMBER) for o in waiting]
        command = stream.next(r, live, book.status)
        match command:
            case Tick():
                # No command for a while: the actor's idle turn, its own clock ticking.
                stream.now += r.randint(0, 100)
                replies = engine.idle(stream.now)
                expired_on_idle += sum(e.status == "expired" for e in events_of(replies, Done))
                continue
            case Halt() | Resume() | SetStatus():
                message = msgspec.structs.replace(operator, body=encode(AdminRequest(command)))
            case _:
                message = engine.request(on_market(command))
        replies = engine.turn([message], stream.now)
        triggered += len(events_of(replies, Triggered))
    assert expired_on_idle > 0 and triggered > 0, "the journal should hold ticks and triggers"
    assert engine.actor.engine.stops.orders, "and orders still waiting"
    live = engine.actor.state_hash()
    if snapshot_every < 100_000 and engine.actor.snapshot_writer is not None:
        engine.actor.reap_snapshot(wait=True)
    again = engine.restarted()
    assert again.replayed > 0
    assert again.state_hash() == live
    assert again.engine.state_hash() == engine.actor.engine.state_hash()


def test_an_expiry_due_at_a_turn_comes_before_the_turns_queries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(config_for(tmp_path, monkeypatch, 100_000))
    user = make_user_id(0, 1)
    gtd = Place(1, user, "buy", "limit", PRICE, LOT, time_in_force="GTD", expire_time=5_000)
    engine.turn([engine.request(gtd)], 1_000)
    query = Inbound(ROUTER, b"feed", 7, encode(DepthQuery()))
    (depth,) = engine.turn([query], 4_999)
    assert isinstance(depth, DepthReply) and depth.bids == [(PRICE, LOT)]
    report, depth = engine.turn([query], 5_000)
    assert isinstance(report, Report) and report.request_seq == 0
    assert report.events == [Done(1, user, "expired", LOT)]
    assert isinstance(depth, DepthReply) and depth.bids == []
    assert engine.restarted().state_hash() == engine.actor.state_hash()


def test_a_tick_is_never_taken_from_a_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(config_for(tmp_path, monkeypatch, 100_000))
    journaled = engine.actor.journal.next_index
    (reply,) = engine.turn([Inbound(ROUTER, b"someone", 3, encode(Tick()))], 1_000)
    assert isinstance(reply, ErrorReply) and reply.code == "FORBIDDEN"
    assert engine.actor.journal.next_index == journaled


def test_statuses_are_set_by_the_operator_and_shown_in_depth_and_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(config_for(tmp_path, monkeypatch, 100_000))
    operator = Inbound(ROUTER, b"operator", 1, encode(AdminRequest(SetStatus("cancel_only"))))
    engine.turn([operator], 1_000)
    place = Place(1, make_user_id(0, 1), "buy", "limit", PRICE, LOT)
    (report,) = engine.turn([engine.request(place)], 1_001)
    assert [e.reason for e in report.events] == ["MARKET_CANCEL_ONLY"]
    queries = [
        Inbound(ROUTER, b"tool", 2, encode(DepthQuery())),
        Inbound(ROUTER, b"tool", 3, encode(StatusQuery())),
    ]
    depth, status = engine.turn(queries, 1_002)
    assert isinstance(depth, DepthReply) and isinstance(status, EngineStatus)
    assert (depth.status, depth.halted, status.status, status.halted) == (
        "cancel_only",
        False,
        "cancel_only",
        False,
    )
    engine.turn([msgspec.structs.replace(operator, body=encode(AdminRequest(Halt())))], 1_003)
    (status,) = engine.turn([queries[1]], 1_004)
    assert (status.status, status.halted) == ("halted", True)


def test_a_gtd_order_expires_on_an_idle_market_within_a_turn_of_its_time(tmp_path: Path) -> None:
    with cluster(tmp_path) as running:
        running.start_engine(MARKET)
        shard = running.context.socket(zmq.DEALER)
        shard.setsockopt(zmq.LINGER, 0)
        shard.setsockopt(zmq.IDENTITY, shard_identity(0))
        engine = running.config.engines[MARKET]
        # The test speaks as shard 0 does, with its key: the engine takes orders from no
        # one else.
        running.security("accounts-0").connect(shard, engine.router.connect, engine.name)
        try:
            user = make_user_id(0, 1)
            expire_time = time.time_ns() // 1_000_000 + 500
            gtd = Place(
                1, user, "sell", "limit", PRICE, LOT, time_in_force="GTD", expire_time=expire_time
            )
            shard.send_multipart([pack_rid(1), encode(EngineRequest(0, 1, gtd))])
            reports = []
            deadline = time.monotonic() + 10
            while not any(events_of(reports, Done)) and time.monotonic() < deadline:
                if shard.poll(100):
                    envelopes = unpack_message(shard.recv_multipart())
                    assert envelopes is not None
                    reports += [decode(envelope.body) for envelope in envelopes]
        finally:
            shard.close()
        accepted, expired = reports
        assert isinstance(accepted, Report) and accepted.request_seq == 1
        assert isinstance(expired, Report) and expired.request_seq == 0
        assert expired.events == [Done(1, user, "expired", LOT)]
        # The engine stamps the turn that expired it: never early, and on an idle market
        # within one idle turn (every 100 ms; the rest is room for a loaded machine).
        assert expire_time <= expired.time < expire_time + 500
        client = running.engine_client(MARKET)
        depth = client.call(DepthQuery(), EngineOutbound)
        client.close()
        assert isinstance(depth, DepthReply) and depth.asks == []
