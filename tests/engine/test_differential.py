"""The engine against the reference book on long random command streams.

After every command both must have produced identical events and hold identical books
(every order, in priority order, with its remaining quantity), and the engine's
invariants (see ``engine_streams.check_book`` and ``engine_streams.Audit``) must hold.
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
        command = stream.next(r, live, reference.halted)
        events = engine.apply(command)
        expected = reference.apply(command)
        assert events == expected, f"step {step}: {command}"
        check_book(engine)
        audit.check(engine, command, events)
        assert engine.snapshot().orders == reference.snapshot_orders(), f"step {step}"
        assert engine.depth(100) == reference.depth(100)
        assert engine.halted == reference.halted


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
