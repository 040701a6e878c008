"""When a turn waits for the disk, and what a Sync brings back: the actors in-process,
with their real journals in a temporary folder (no sockets; the runtime's part is to
call ``commit`` before it sends what the turn produced)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from actors.accounts.actor import ROUTER as SHARD_ROUTER
from actors.accounts.actor import AccountsActor, engine_socket
from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    CreateUser,
    Deposit,
    GetBalances,
    OrderReply,
    PlaceOrder,
    UserCreated,
)
from actors.engine.actor import ROUTER as ENGINE_ROUTER
from actors.engine.actor import EngineActor
from actors.engine.messages import Place
from actors.engine.protocol import EngineOutbound, EngineRequest, Report, Sync, shard_identity
from bourse.config import Config, load_config
from harness.cluster import write_config
from transport.runtime import Inbound, Outbox

SECRET = hashlib.sha256(b"policy").digest()
encode = msgspec.msgpack.Encoder().encode
replies = msgspec.msgpack.Decoder(AccountsReply)
engine_replies = msgspec.msgpack.Decoder(EngineOutbound)
to_engine = msgspec.msgpack.Decoder(EngineRequest | Sync)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("BOURSE_DATA_DIR", str(tmp_path / "data"))
    return load_config(write_config(tmp_path, fsync="batch"))


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every fdatasync the actors ask of the disk (each still happens)."""
    calls: list[int] = []
    real = os.fdatasync

    def counting(descriptor: int) -> None:
        calls.append(descriptor)
        real(descriptor)

    monkeypatch.setattr(os, "fdatasync", counting)
    yield calls


def turn(actor: AccountsActor | EngineActor, messages: list[Inbound], now: int) -> Outbox:
    out = Outbox()
    actor.on_batch(messages, now, out)
    actor.commit(out)
    return out


def test_a_shard_waits_for_the_disk_only_when_the_turn_answers_or_forwards(
    config: Config, flushes: list[int]
) -> None:
    shard = AccountsActor(config, 0)
    shard.open_journal(config)
    engine = EngineActor(config, "BTC-USDT")
    engine.open_journal(config)

    def request(rid: int, message: object) -> Outbox:
        return turn(shard, [Inbound(SHARD_ROUTER, b"client", rid, encode(message))], rid)

    created = replies.decode(request(1, CreateUser(SECRET)).replies[0][3])
    assert isinstance(created, UserCreated)
    auth = Auth(created.user_id, SECRET)
    request(2, Deposit(auth, "USDT", 10_000_000_000))
    before = len(flushes)
    placed = request(3, PlaceOrder(auth, "BTC-USDT", "buy", "limit", 30_000_000_000, 10_000))
    assert len(flushes) == before + 1, "a turn that forwards to an engine syncs first"
    ((socket, _, body, _),) = placed.sends
    assert socket == engine_socket("BTC-USDT")

    forwarded = Inbound(ENGINE_ROUTER, shard_identity(0), 0, body)
    reported = turn(engine, [forwarded], 4)
    assert len(flushes) == before + 2, "an engine syncs before it reports"
    ((_, _, _, report),) = reported.replies

    before = len(flushes)
    settled = turn(shard, [Inbound(engine_socket("BTC-USDT"), b"", 0, report)], 5)
    assert len(flushes) == before, "a turn of reports alone is written, not synced"
    ((_, rid, answer),) = [(peer, rid, replies.decode(b)) for _, peer, rid, b in settled.settled]
    assert rid == 3 and isinstance(answer, OrderReply) and answer.order.status == "new"

    request(6, GetBalances(auth))
    assert len(flushes) == before + 1, "the next turn that answers syncs what came before"

    # Everything the shard was told is in its journal, synced or not, and the read changed
    # nothing: a restart from the journal reaches the same state, byte for byte.
    hash_before = shard.state_hash()
    shard.journal.close()
    again = AccountsActor(config, 0)
    again.open_journal(config)
    assert again.replayed == 4  # user, deposit, place, report: the reads are not recorded
    assert again.state_hash() == hash_before


def test_a_sync_resends_only_reports_kept_since_the_previous_sync(config: Config) -> None:
    engine = EngineActor(config, "BTC-USDT")
    engine.open_journal(config)
    identity = shard_identity(0)

    def from_shard(message: object, now: int) -> list[int]:
        out = turn(engine, [Inbound(ENGINE_ROUTER, identity, 0, encode(message))], now)
        seqs = []
        for _, peer, _, body in out.replies:
            report = engine_replies.decode(body)
            assert peer == identity and isinstance(report, Report)
            seqs.append(report.seq)
        return seqs

    def place(seq: int, order_id: int) -> EngineRequest:
        return EngineRequest(0, seq, Place(order_id, 7, "buy", "limit", 30_000_000_000, 10_000))

    assert from_shard(place(1, 101), 1) == [1]
    assert from_shard(Sync(0, 0), 2) == [], "report 1 may still be on its way"
    assert from_shard(place(2, 102), 3) == [2]
    assert from_shard(Sync(0, 0), 4) == [1], "report 1 had a whole period; 2 had not"
    assert from_shard(Sync(0, 1), 5) == [2], "1 is forgotten, 2 is now overdue"
    assert from_shard(Sync(0, 2), 6) == []
    assert engine.links[0].unacked == 0


def test_a_shard_resends_a_request_left_unanswered_for_a_whole_sync_period(
    config: Config,
) -> None:
    shard = AccountsActor(config, 0)
    shard.open_journal(config)
    engine = EngineActor(config, "BTC-USDT")
    engine.open_journal(config)
    socket = engine_socket("BTC-USDT")

    def request(rid: int, message: object) -> Outbox:
        return turn(shard, [Inbound(SHARD_ROUTER, b"client", rid, encode(message))], rid)

    def idle(now: int) -> list[object]:
        """What the shard's timer sends this engine."""
        out = Outbox()
        shard.on_idle(now, out)
        return [to_engine.decode(body) for to, _, body, _ in out.sends if to == socket]

    created = replies.decode(request(1, CreateUser(SECRET)).replies[0][3])
    assert isinstance(created, UserCreated)
    auth = Auth(created.user_id, SECRET)
    request(2, Deposit(auth, "USDT", 10_000_000_000))
    placed = request(3, PlaceOrder(auth, "BTC-USDT", "buy", "limit", 30_000_000_000, 10_000))
    ((_, _, body, _),) = placed.sends
    sent = to_engine.decode(body)
    assert isinstance(sent, EngineRequest) and sent.seq == 1

    assert idle(1_000) == [Sync(0, 0)], "the request may still be on its way"
    assert idle(1_500) == [], "not a whole period since the last sync"
    assert idle(2_000) == [sent, Sync(0, 0)], "unanswered for a whole period: sent again"

    # The engine applies the first copy and ignores the second.
    first = turn(engine, [Inbound(ENGINE_ROUTER, shard_identity(0), 0, body)], 2_001)
    again = turn(engine, [Inbound(ENGINE_ROUTER, shard_identity(0), 0, encode(sent))], 2_002)
    assert len(first.replies) == 1 and again.replies == []
    turn(shard, [Inbound(socket, b"", 0, first.replies[0][3])], 2_003)
    assert idle(3_000) == [Sync(0, 1)], "answered: nothing to send again"
