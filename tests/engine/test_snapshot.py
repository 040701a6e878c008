"""Snapshot and restore: the restored engine is the same state and behaves the same.

"The same" means the same ``state_hash`` now, and after any tail of commands applied to
both, the same events one by one and the same final hash.
"""

from __future__ import annotations

import random

import msgspec
import pytest
from engine_streams import (
    BASE_SCALE,
    LOT,
    TICK,
    Chooser,
    CommandStream,
    DrawChooser,
    check_book,
    new_engine,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.engine.engine import EngineSnapshot, MatchingEngine
from actors.engine.messages import Halt


def live(engine: MatchingEngine) -> list[tuple[int, int]]:
    orders = [(o.order_id, o.user_id) for o in engine.orders.values()]
    return orders + [(o.order_id, o.user_id) for o in engine.stops.orders.values()]


def drive(engine: MatchingEngine, stream: CommandStream, r: Chooser, commands: int) -> None:
    for _ in range(commands):
        command = stream.next(r, live(engine), engine.status)
        engine.apply(command, stream.now)


def restored(engine: MatchingEngine, via_bytes: bool) -> MatchingEngine:
    data: bytes | EngineSnapshot = engine.snapshot_bytes() if via_bytes else engine.snapshot()
    return MatchingEngine.restore(data, TICK, LOT, BASE_SCALE)


def assert_same_future(
    original: MatchingEngine, copy: MatchingEngine, stream: CommandStream, r: Chooser, n: int
) -> None:
    for step in range(n):
        command = stream.next(r, live(original), original.status)
        now = stream.now
        assert original.apply(command, now) == copy.apply(command, now), f"step {step}"
    check_book(copy)
    assert copy.state_hash() == original.state_hash()
    assert copy.depth(1000) == original.depth(1000)


@pytest.mark.parametrize("via_bytes", [False, True], ids=["struct", "bytes"])
@pytest.mark.parametrize("seed", range(4))
def test_restore_gives_the_same_state_and_the_same_future(seed: int, via_bytes: bool) -> None:
    r = random.Random(seed)
    stream = CommandStream()
    original = new_engine()
    drive(original, stream, r, 3_000)
    # Go on to a state that holds every kind of thing a snapshot must carry.
    for _ in range(10_000):
        if original.orders and original.stops.orders and original.expiry and original.lists:
            break
        drive(original, stream, r, 1)
    assert original.orders and original.stops.orders and original.expiry and original.lists
    copy = restored(original, via_bytes)
    check_book(copy)
    assert copy.state_hash() == original.state_hash()
    fields = ("seq", "trade_id", "status", "market", "now", "last_price", "lists")
    assert [getattr(copy, f) for f in fields] == [getattr(original, f) for f in fields]
    assert copy.next_expiry() == original.next_expiry()
    assert copy.depth(1000) == original.depth(1000)
    assert_same_future(original, copy, stream, r, 3_000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_restore_at_any_point_gives_the_same_future(data: st.DataObject) -> None:
    r = DrawChooser(data)
    stream = CommandStream()
    original = new_engine()
    drive(original, stream, r, data.draw(st.integers(0, 120)))
    copy = restored(original, data.draw(st.booleans()))
    assert copy.state_hash() == original.state_hash()
    assert_same_future(original, copy, stream, r, data.draw(st.integers(0, 120)))


def test_the_hash_tells_states_apart_and_ignores_history() -> None:
    empty = new_engine()
    assert restored(empty, True).state_hash() == empty.state_hash()
    halted = new_engine()
    halted.apply(Halt())
    assert halted.state_hash() != empty.state_hash()
    a, b = new_engine(), new_engine()
    drive(a, CommandStream(), random.Random(7), 500)
    drive(b, CommandStream(), random.Random(7), 500)
    assert a.state_hash() == b.state_hash()
    assert a.snapshot_bytes() == b.snapshot_bytes()
    c = new_engine()
    drive(c, CommandStream(), random.Random(8), 500)
    assert c.state_hash() != a.state_hash()


def test_a_snapshot_written_before_statuses_and_expiry_still_restores() -> None:
    # The shape an engine wrote before conditional orders, GTD and statuses existed.
    old = msgspec.msgpack.encode(
        {
            "market": "TEST-QUOTE",
            "seq": 7,
            "trade_id": 2,
            "halted": True,
            "orders": [[1, 1, "buy", 990, 20, 10, False, "expire_taker"]],
        }
    )
    engine = MatchingEngine.restore(old, TICK, LOT, BASE_SCALE)
    check_book(engine)
    assert (engine.status, engine.seq, engine.trade_id, engine.now, engine.last_price) == (
        "halted",
        7,
        2,
        0,
        0,
    )
    assert engine.depth(10) == ([(990, 10)], [])
    assert engine.orders[1].expire_time == 0 and engine.next_expiry() is None
    assert not engine.stops.orders and not engine.lists
