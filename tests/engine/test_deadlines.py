"""A request that reaches the engine past its deadline (less the clock skew allowed) is
refused EXPIRED and never applied; one in time is applied.  The decision rests on the
turn's stamped time, so a replay decides the same."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from test_actor_time import LOT, PRICE, Engine, config_for

from actors.engine.actor import ROUTER
from actors.engine.messages import Accepted, Cancel, Place, Rejected
from actors.engine.protocol import DepthQuery, DepthReply, EngineRequest, Report, shard_identity
from bourse.ids import make_user_id
from transport.runtime import Inbound

NOW = 1_800_000_000_000
encode = msgspec.msgpack.Encoder().encode


def request(engine: Engine, command: Place | Cancel, deadline: int) -> Inbound:
    engine.seqs[0] += 1
    body = encode(EngineRequest(0, engine.seqs[0], command, deadline))
    return Inbound(ROUTER, shard_identity(0), 0, body)


def test_only_requests_in_time_are_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_for(tmp_path, monkeypatch, 100_000)
    skew = config.exchange.max_clock_skew_ms
    engine = Engine(config)
    user = make_user_id(0, 1)
    late = Place(1, user, "buy", "limit", PRICE, LOT)
    (refused,) = engine.turn([request(engine, late, NOW + skew - 1)], NOW)
    assert isinstance(refused, Report)
    assert refused.events == [Rejected(1, user, "EXPIRED")]

    in_time = Place(2, user, "buy", "limit", PRICE, LOT)
    (accepted,) = engine.turn([request(engine, in_time, NOW + skew + 1)], NOW)
    assert isinstance(accepted, Report) and isinstance(accepted.events[0], Accepted)

    cancel = Cancel(2, user)
    (too_late,) = engine.turn([request(engine, cancel, NOW + 5)], NOW + 10)
    assert isinstance(too_late, Report) and too_late.events == [Rejected(2, user, "EXPIRED")]
    depth = Inbound(ROUTER, b"tool", 1, encode(DepthQuery()))
    (book,) = engine.turn([depth], NOW + 11)
    assert isinstance(book, DepthReply) and book.bids == [(PRICE, LOT)]  # still resting

    # No deadline: applied whenever it comes.
    (cancelled,) = engine.turn([request(engine, cancel, 0)], NOW + 10_000)
    assert isinstance(cancelled, Report) and not isinstance(cancelled.events[0], Rejected)

    live = engine.actor.state_hash()
    engine.actor.journal.close()
    replayed = Engine(config)
    assert replayed.actor.state_hash() == live
