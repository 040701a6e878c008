"""The bookkeeping behind every client limit, against small models, on a clock of our own."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from bourse.throttle import AuthFailures, ConnectionSlots, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# A step: wait some time, then take (or refund) a token for one of a few keys.
STEPS = st.lists(
    st.tuples(
        st.floats(0.0, 5.0, allow_nan=False),
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["take", "refund"]),
    ),
    max_size=200,
)


@given(
    steps=STEPS,
    rate=st.floats(0.1, 20.0),
    burst=st.integers(1, 20),
    max_keys=st.integers(1, 4),
)
@settings(max_examples=300, deadline=None)
def test_buckets_grant_what_the_model_grants(
    steps: list[tuple[float, str, str]], rate: float, burst: int, max_keys: int
) -> None:
    """The model: per key, tokens = min(burst, tokens + elapsed * rate), one per grant.
    Pruning a bucket may only forget a full one (or the oldest half past the bound), so
    with at most ``max_keys`` keys in play every answer matches the model."""
    clock = Clock()
    buckets = TokenBuckets(rate, burst, max_keys=max(max_keys, 3), clock=clock)
    model: dict[str, tuple[float, float]] = {}
    for wait, key, action in steps:
        clock.now += wait
        tokens, then = model.get(key, (float(burst), clock.now))
        tokens = min(float(burst), tokens + (clock.now - then) * rate)
        if action == "refund":
            buckets.refund(key)
            model[key] = (min(float(burst), tokens + 1.0), clock.now)
            continue
        granted = buckets.take(key) == 0.0
        assert granted == (tokens >= 1.0)
        model[key] = (tokens - 1.0 if granted else tokens, clock.now)
        assert len(buckets) <= max(max_keys, 3)


def test_a_refused_take_says_when_a_token_is_due() -> None:
    clock = Clock()
    buckets = TokenBuckets(2.0, 1, clock=clock)
    assert buckets.take("k") == 0.0
    wait = buckets.take("k")
    assert math.isclose(wait, 0.5)
    clock.now += wait
    assert buckets.take("k") == 0.0


def test_buckets_stay_bounded_under_a_flood_of_keys() -> None:
    clock = Clock()
    buckets = TokenBuckets(1.0, 5, max_keys=100, clock=clock)
    for n in range(10_000):
        buckets.take(f"key{n}")
    assert len(buckets) <= 100


def test_failures_are_slowed_then_blocked_then_forgotten() -> None:
    clock = Clock()
    failures = AuthFailures(
        slow_after=2, block_after=4, delay_s=1.0, block_s=60.0, forget_s=30.0, clock=clock
    )
    assert [failures.fail("x") for _ in range(3)] == [0.0, 0.0, 1.0]
    assert failures.blocked("x") == 0.0
    failures.fail("x")
    assert failures.blocked("x") == 60.0
    assert failures.blocked("y") == 0.0
    clock.now += 60.0
    assert failures.blocked("x") == 0.0
    # Two failures were forgotten in those 60 s: two more block again.
    failures.fail("x")
    assert failures.blocked("x") == 0.0
    failures.fail("x")
    assert failures.blocked("x") == 60.0
    clock.now += 60.0 + 4 * 30.0
    assert [failures.fail("x") for _ in range(3)] == [0.0, 0.0, 1.0]


@given(
    events=st.lists(
        st.tuples(st.floats(0.0, 50.0, allow_nan=False), st.sampled_from(["a", "b"])),
        max_size=100,
    )
)
@settings(max_examples=300, deadline=None)
def test_failures_match_the_model(events: list[tuple[float, str]]) -> None:
    """The model: a count per address, one forgotten per 30 s since the last forgetting
    (or the first failure after a clean slate); blocked for 60 s once it reaches 4."""
    clock = Clock()
    failures = AuthFailures(2, 4, 1.0, 60.0, 30.0, clock=clock)
    model: dict[str, tuple[int, float, float]] = {}
    for wait, address in events:
        clock.now += wait
        count, since, until = model.get(address, (0, clock.now, 0.0))
        forgotten = int((clock.now - since) // 30.0)
        if forgotten >= count:
            count, since = 0, clock.now
        else:
            count, since = count - forgotten, since + forgotten * 30.0
        count += 1
        if count >= 4:
            until = clock.now + 60.0
        model[address] = (count, since, until)
        assert failures.fail(address) == (1.0 if count > 2 else 0.0)
        for other, (_, _, blocked_until) in model.items():
            assert math.isclose(failures.blocked(other), max(0.0, blocked_until - clock.now))


def test_connection_slots_cap_each_address_and_the_total() -> None:
    slots = ConnectionSlots(total=3, per_address=2)
    assert slots.take("a") is None and slots.take("a") is None
    assert slots.take("a") == "max_connections_per_address"
    assert slots.take("b") is None
    assert slots.take("c") == "max_connections"
    slots.give_back("a")
    assert slots.held("a") == 1 and slots.open == 2
    assert slots.take("c") is None
    for address in ("a", "b", "c"):
        slots.give_back(address)
    slots.give_back("nobody")
    assert slots.open == 0 and slots.held("a") == 0
