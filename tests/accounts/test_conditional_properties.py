"""Long random runs with conditional orders, GTD, OCO lists, batches and dead man's
switches, through real Ledgers and MatchingEngines (in one process) with time passing.

After every step: the money invariants (docs/architecture.md), no negative balance, no
closed order or done list holding funds (simulation.check_invariants).  At the end: every user's
holdings equal a reference computed from the trades alone, and each shard's journal
(requests, reports and ticks, through the wire encoding) replayed into a fresh ledger,
and its snapshot restored, reach the live state's hash.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simulation import check_invariants
from test_ledger_history import every_order
from test_ledger_properties import (
    CONFIG_LOADED,
    LOT,
    MARKET,
    MID,
    TICK,
    Run,
    action,
    check_against_reference,
    check_reads_change_nothing,
)
from test_ledger_properties import _random_step as plain_step

from actors.accounts.ledger import Ledger
from actors.accounts.protocol import (
    AccountsRequest,
    Auth,
    CancelAfter,
    CancelBatch,
    CancelOrderList,
    GetOrderList,
    OrderListReply,
    OrderReply,
    PlaceBatch,
    PlaceOrder,
    PlaceOrderList,
)
from actors.accounts.shard import LedgerOutput
from actors.engine.protocol import Report

CONDITIONAL = ["stop_limit", "stop_market", "take_profit_limit", "take_profit_market"]
_encoder = msgspec.msgpack.Encoder()
_requests = msgspec.msgpack.Decoder(AccountsRequest)
_reports = msgspec.msgpack.Decoder(Report)


class TimedRun(Run):
    """A run whose steps also place conditional, GTD and OCO orders, send batches, arm
    switches and let time pass."""

    def __init__(self) -> None:
        super().__init__(CONFIG_LOADED)
        self.lists: list[int] = []

    def step(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind not in _EXTRA:
            self.apply(step)
            return
        sim = self.sim
        if kind == "advance":
            sim.advance(step[1])
            return
        auth = self.auths[step[1]]
        shard = auth.user_id >> 40
        if kind == "conditional":
            self._placed(auth, sim.request(shard, conditional(auth, sim.now, *step[2:])))
        elif kind == "oco":
            reply = sim.request(shard, oco(auth, sim.now, *step[2:]))
            if isinstance(reply, OrderListReply):
                self.lists.append(reply.order_list.list_id)
        elif kind == "cancel_list" and self.lists:
            sim.request(shard, CancelOrderList(auth, self.lists[step[2] % len(self.lists)]))
        elif kind == "batch":
            orders = [conditional(auth, sim.now, *spec) for spec in step[2]]
            reply = sim.request(shard, PlaceBatch(auth, orders))
            for result in reply.results:  # type: ignore[union-attr]
                self._placed(auth, result)
        elif kind == "cancel_batch" and self.placed:
            ids = [self.placed[i % len(self.placed)][1] for i in step[2]]
            sim.request(shard, CancelBatch(auth, ids))
        elif kind == "switch":
            sim.request(shard, CancelAfter(auth, step[2]))

    def _placed(self, auth: Auth, reply: object) -> None:
        if isinstance(reply, OrderReply):
            self.placed.append((auth, reply.order.order_id))


_EXTRA = frozenset(
    ("advance", "conditional", "oco", "cancel_list", "batch", "cancel_batch", "switch")
)


def conditional(
    auth: Auth, now: int, kind: str, side: str, stop: int, limit: int, qty: int, gtd: int
) -> PlaceOrder:
    """A stop or take-profit order (``kind`` "limit" or "gtd_limit" for a plain one);
    ``gtd`` > 0 makes it GTD for that many ms."""
    tif = "GTD" if gtd else "GTC"
    expire = now + 1 + gtd if gtd else 0
    if kind == "limit":
        return PlaceOrder(
            auth, MARKET, side, "limit", price=limit, qty=qty, time_in_force=tif, expire_time=expire
        )
    if kind.endswith("_market") and side == "sell":
        return PlaceOrder(
            auth,
            MARKET,
            side,
            kind,
            qty=qty,
            stop_price=stop,
            time_in_force=tif,
            expire_time=expire,
        )
    return PlaceOrder(  # a limit twin, or a market buy with its worst price
        auth,
        MARKET,
        side,
        kind,
        price=limit,
        qty=qty,
        stop_price=stop,
        time_in_force=tif,
        expire_time=expire,
    )


def oco(
    auth: Auth, now: int, side: str, limit: int, stop: int, stop_limit: int, qty: int, gtd: int
) -> PlaceOrderList:
    return PlaceOrderList(
        auth,
        MARKET,
        side,
        qty=qty,
        price=limit,
        stop_price=stop,
        stop_limit_price=stop_limit if side == "buy" or stop_limit % 2 else 0,
        time_in_force="GTD" if gtd else "GTC",
        expire_time=now + 1 + gtd if gtd else 0,
    )


users = st.integers(0, 5)
prices = st.integers(-6, 6).map(lambda k: MID + k * 500 * TICK)
lots = st.integers(1, 40).map(lambda k: k * 100 * LOT)
gtds = st.sampled_from([0, 0, 500, 3_000])
sides = st.sampled_from(["buy", "sell"])
order_spec = st.tuples(st.sampled_from([*CONDITIONAL, "limit"]), sides, prices, prices, lots, gtds)
extra = st.one_of(
    st.tuples(st.just("advance"), st.sampled_from([1, 200, 1_000, 4_000])),
    st.tuples(st.just("conditional"), users).flatmap(lambda t: order_spec.map(lambda s: t + s)),
    st.tuples(st.just("oco"), users, sides, prices, prices, prices, lots, gtds),
    st.tuples(st.just("cancel_list"), users, st.integers(0, 30)),
    st.tuples(st.just("batch"), users, st.lists(order_spec, min_size=1, max_size=5)),
    st.tuples(st.just("cancel_batch"), users, st.lists(st.integers(0, 30), min_size=1, max_size=4)),
    st.tuples(st.just("switch"), users, st.sampled_from([0, 1_000, 2_500, 999])),
)

actions = st.one_of(action, extra, extra)


def check_replay(run: TimedRun) -> None:
    """Each shard's journal, through the wire encoding, rebuilds the same state; so does
    its snapshot."""
    for shard, ledger in enumerate(run.sim.ledgers):
        live = ledger.state_hash()
        assert Ledger.restore(CONFIG_LOADED, ledger.snapshot_bytes()).state_hash() == live
        fresh = Ledger(CONFIG_LOADED, shard)
        for entry in run.sim.journals[shard]:
            out = LedgerOutput()
            if entry[0] == "request":
                request = _requests.decode(_encoder.encode(entry[2]))
                fresh.handle_request(entry[1], b"client", 0, request, out)
            elif entry[0] == "report":
                fresh.handle_report(_reports.decode(_encoder.encode(entry[1])), out)
            else:
                fresh.handle_tick(entry[1], out)
        assert fresh.state_hash() == live, shard


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=80))
def test_conditional_orders_keep_money_conserved_and_replay(steps: list[tuple[Any, ...]]) -> None:
    run = TimedRun()
    for step in steps:
        run.step(step)
        check_invariants(run.sim)
    check_against_reference(run)
    check_reads_change_nothing(run)
    check_replay(run)


def test_a_long_seeded_stream_with_every_kind_of_order() -> None:
    rng = random.Random(20261203)
    run = TimedRun()
    for _ in range(2500):
        run.step(_random_step(rng, run))
    check_invariants(run.sim)
    check_against_reference(run)
    check_reads_change_nothing(run)
    check_replay(run)
    sim = run.sim
    # Closed orders live in each shard's history: read every order of every user.
    every = [
        order
        for auth in run.auths
        for order in every_order(sim.ledgers[auth.user_id >> 40], auth, 1000)
    ]
    triggered = [o for o in every if o.triggered and o.status not in ("new", "partially_filled")]
    expired = [o for o in every if o.time_in_force == "GTD" and o.status == "expired"]
    lists_done = []
    for auth in run.auths:
        for list_id in sorted({o.list_id for o in every if o.list_id}):
            reply = sim.request(auth.user_id >> 40, GetOrderList(auth, list_id))
            if isinstance(reply, OrderListReply) and reply.order_list.status == "done":
                lists_done.append(list_id)
    # The stream did what it is for: stops triggered and finished, GTD orders expired,
    # lists ended, and switches fired (each one a tick in some journal).
    assert len(triggered) > 30 and len(expired) > 30 and len(lists_done) > 30
    assert sum(1 for j in sim.journals for e in j if e[0] == "tick") > 5
    assert len(sim.trades) > 300
    for auth in run.auths:
        user = sim.ledgers[auth.user_id >> 40].state.users[auth.user_id]
        for oco_id in list(user.lists)[:3]:
            reply = sim.request(auth.user_id >> 40, GetOrderList(auth, oco_id))
            assert isinstance(reply, OrderListReply) and len(reply.order_list.orders) == 2


def _random_step(rng: random.Random, run: TimedRun) -> tuple[Any, ...]:
    roll = rng.random()
    user = rng.randrange(6)
    if roll < 0.45:
        return plain_step(rng)
    if roll < 0.55:
        return ("advance", rng.choice([1, 200, 1_000, 4_000]))
    if roll < 0.75:
        return ("conditional", user, *_spec(rng))
    if roll < 0.83:
        side = _side(rng)
        return ("oco", user, side, _price(rng), _price(rng), _price(rng), _qty(rng), _gtd(rng))
    if roll < 0.86:
        return ("cancel_list", user, rng.randrange(100))
    if roll < 0.92:
        return ("batch", user, [_spec(rng) for _ in range(rng.randint(1, 6))])
    if roll < 0.95:
        return ("cancel_batch", user, [rng.randrange(1000) for _ in range(rng.randint(1, 5))])
    return ("switch", user, rng.choice([0, 1_000, 2_500, 5_000]))


def _price(rng: random.Random) -> int:
    return MID + rng.randint(-6, 6) * 500 * TICK


def _qty(rng: random.Random) -> int:
    return rng.randint(1, 40) * 100 * LOT


def _gtd(rng: random.Random) -> int:
    return rng.choice([0, 0, 500, 3_000])


def _side(rng: random.Random) -> str:
    return rng.choice(["buy", "sell"])


def _spec(rng: random.Random) -> tuple[Any, ...]:
    kind = rng.choice([*CONDITIONAL, "limit"])
    return (kind, _side(rng), _price(rng), _price(rng), _qty(rng), _gtd(rng))
