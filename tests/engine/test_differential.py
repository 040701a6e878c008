"""The engine against the reference book on long random command streams.

The streams mix plain orders with conditional orders, GTD orders (time advancing a few
milliseconds per command, so that orders expire on ticks and before commands), OCO
lists and status changes.  After every command both must have produced identical events
and hold identical state (every resting order in priority order with its remaining
quantity, the untriggered orders in trigger order, the live lists, the last price, the
status and the next expiry), and the engine's invariants (see
``engine_streams.check_book`` and ``engine_streams.Audit``) must hold.
"""

from __future__ import annotations

import random

from engine_streams import (
    BASE_SCALE,
    LOT,
    TICK,
    Audit,
    Chooser,
    CommandStream,
    DrawChooser,
    check_book,
    new_engine,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_book import ReferenceBook


def run_side_by_side(r: Chooser, commands: int) -> None:
    engine = new_engine()
    reference = ReferenceBook(TICK, LOT, BASE_SCALE)
    stream = CommandStream()
    audit = Audit()
    for step in range(commands):
        live = [(o.order_id, o.user_id) for o in reference.orders]
        live += [(o.order_id, o.user_id) for o in reference.waiting]
        command = stream.next(r, live, reference.status)
        events = engine.apply(command, stream.now)
        expected = reference.apply(command, stream.now)
        assert events == expected, f"step {step}: {command}"
        check_book(engine)
        audit.check(engine, command, events)
        snapshot = engine.snapshot()
        assert snapshot.orders == reference.snapshot_orders(), f"step {step}"
        assert snapshot.untriggered == reference.waiting_in_trigger_order(), f"step {step}"
        assert snapshot.lists == sorted(reference.lists, key=lambda oco: oco.list_id)
        assert engine.depth(100) == reference.depth(100)
        assert (engine.status, engine.last_price) == (reference.status, reference.last_price)
        assert engine.next_expiry() == reference.next_expiry()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_engine_matches_reference(data: st.DataObject) -> None:
    chooser = DrawChooser(data)
    run_side_by_side(chooser, data.draw(st.integers(1, 250)))


def test_long_seeded_stream_matches_reference() -> None:
    run_side_by_side(random.Random(20261122), 20_000)


def test_several_seeds_match_reference() -> None:
    for seed in range(5):
        run_side_by_side(random.Random(seed), 2_000)
