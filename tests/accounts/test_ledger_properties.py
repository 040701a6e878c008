"""Random command streams through real Ledgers and MatchingEngines (in one process):
the money invariants (docs/architecture.md) after every command, and every user's
holdings equal to a reference computed independently from the trades."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simulation import Simulation, check_invariants

from actors.accounts.protocol import (
    AccountsRequest,
    AmendOrder,
    Auth,
    Authenticate,
    CancelOrder,
    CancelOrders,
    Deposit,
    ErrorReply,
    GetBalances,
    GetOrder,
    GetStatus,
    GetTotals,
    ListFills,
    ListOrders,
    OrderReply,
    PlaceOrder,
    Withdraw,
)
from bourse.config import Config, load_config
from bourse.market import FEE_SCALE
from bourse.money import ceil_div

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "local.toml"
MARKET = "BTC-USDT"
TICK = 10_000  # 0.01 USDT
LOT = 10_000  # 0.0001 BTC
MID = 30_000 * 1_000_000

users = st.integers(0, 5)
prices = st.integers(-6, 6).map(lambda k: MID + k * 500 * TICK)
lots = st.integers(1, 40).map(lambda k: k * 100 * LOT)

place = st.builds(
    lambda u, side, kind, price, qty, tif, post, stp, by_quote: (
        "place",
        u,
        side,
        kind,
        price,
        qty,
        tif,
        post,
        stp,
        by_quote,
    ),
    users,
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["limit", "limit", "limit", "market"]),
    prices,
    lots,
    st.sampled_from(["GTC", "GTC", "IOC", "FOK"]),
    st.booleans(),
    st.sampled_from(["expire_taker", "expire_maker", "expire_both"]),
    st.booleans(),
)
action = st.one_of(
    place,
    place,
    place,
    st.tuples(st.just("cancel"), users, st.integers(0, 30)),
    st.tuples(st.just("amend"), users, st.integers(0, 30), prices, lots),
    st.tuples(st.just("cancel_all"), users),
    st.tuples(st.just("withdraw"), users, st.sampled_from(["BTC", "USDT"]), st.integers(1, 10**9)),
    st.tuples(st.just("deposit"), users, st.sampled_from(["BTC", "USDT"]), st.integers(1, 10**11)),
)


class Run:
    """A simulation plus what the test itself saw move in and out of each account."""

    def __init__(self, config: Config) -> None:
        self.sim = Simulation(config)
        self.auths = [self.sim.create_user(index % len(config.shards)) for index in range(6)]
        self.placed: list[tuple[Auth, int]] = []
        self.external: dict[tuple[int, str], int] = defaultdict(int)
        for auth in self.auths:
            self.deposit(auth, "USDT", 2_000_000 * 1_000_000)
            self.deposit(auth, "BTC", 50 * 100_000_000)

    def deposit(self, auth: Auth, asset: str, amount: int) -> None:
        reply = self.sim.request(auth.user_id >> 40, Deposit(auth, asset, amount))
        assert not isinstance(reply, ErrorReply), reply
        self.external[(auth.user_id, asset)] += amount

    def withdraw(self, auth: Auth, asset: str, amount: int) -> None:
        ledger = self.sim.ledgers[auth.user_id >> 40]
        held = ledger.state.users[auth.user_id].balances.get(asset)  # reading must not create it
        free = held.free if held is not None else 0
        reply = self.sim.request(auth.user_id >> 40, Withdraw(auth, asset, amount))
        assert isinstance(reply, ErrorReply) == (amount > free), reply
        if not isinstance(reply, ErrorReply):
            self.external[(auth.user_id, asset)] -= amount

    def apply(self, step: tuple[Any, ...]) -> None:
        kind, auth = step[0], self.auths[step[1]]
        shard = auth.user_id >> 40
        if kind == "place":
            reply = self.sim.request(shard, _order(auth, step))
            if isinstance(reply, OrderReply):
                self.placed.append((auth, reply.order.order_id))
        elif kind in ("cancel", "amend") and self.placed:
            owner, order_id = self.placed[step[2] % len(self.placed)]
            if kind == "cancel":
                reply = self.sim.request(shard, CancelOrder(auth, order_id))
            else:
                reply = self.sim.request(
                    shard, AmendOrder(auth, order_id, qty=step[4], price=step[3])
                )
            if owner != auth:
                assert isinstance(reply, ErrorReply) and reply.code == "ORDER_NOT_FOUND", reply
        elif kind == "cancel_all":
            self.sim.request(shard, CancelOrders(auth, None))
        elif kind == "withdraw":
            self.withdraw(auth, step[2], step[3])
        elif kind == "deposit":
            self.deposit(auth, step[2], step[3])


def _order(auth: Auth, step: tuple[Any, ...]) -> PlaceOrder:
    _, _, side, order_type, price, qty, tif, post, stp, by_quote = step
    if order_type == "market":
        if side == "buy" and by_quote:
            return PlaceOrder(auth, MARKET, "buy", "market", quote_qty=qty * 3, stp=stp)
        if side == "buy":
            return PlaceOrder(
                auth, MARKET, "buy", "market", price=price, qty=qty, time_in_force=tif, stp=stp
            )
        return PlaceOrder(auth, MARKET, "sell", "market", qty=qty, time_in_force=tif, stp=stp)
    return PlaceOrder(
        auth,
        MARKET,
        side,
        "limit",
        price=price,
        qty=qty,
        time_in_force=tif,
        post_only=post and tif == "GTC",
        stp=stp,
    )


def reference_holdings(run: Run) -> dict[tuple[int, str], int]:
    """free + locked per user and asset, from deposits, withdrawals and the trades alone:
    each trade moves qty and notional, each order pays ceil(sum notional x rate)."""
    config = run.sim.config
    holdings = defaultdict(int, run.external)
    fee_exact: dict[int, int] = defaultdict(int)
    owner: dict[int, tuple[int, str]] = {}
    for market_name, trade in run.sim.trades:
        market = config.markets[market_name]
        notional = market.notional(trade.price, trade.qty)
        taker_buys = trade.taker_side == "buy"
        buyer = trade.taker_user_id if taker_buys else trade.maker_user_id
        seller = trade.maker_user_id if taker_buys else trade.taker_user_id
        holdings[(buyer, market.base)] += trade.qty
        holdings[(buyer, market.quote)] -= notional
        holdings[(seller, market.base)] -= trade.qty
        holdings[(seller, market.quote)] += notional
        fee_exact[trade.taker_order_id] += notional * market.taker_fee_ppm
        fee_exact[trade.maker_order_id] += notional * market.maker_fee_ppm
        owner[trade.taker_order_id] = (trade.taker_user_id, market.quote)
        owner[trade.maker_order_id] = (trade.maker_user_id, market.quote)
    for order_id, exact in fee_exact.items():
        holdings[owner[order_id]] -= ceil_div(exact, FEE_SCALE)
    return holdings


def check_against_reference(run: Run) -> None:
    expected = reference_holdings(run)
    for ledger in run.sim.ledgers:
        for user in ledger.state.users.values():
            for asset in run.sim.config.assets:
                balance = user.balances.get(asset)
                held = balance.free + balance.locked if balance is not None else 0
                assert held == expected[(user.user_id, asset)], (user.user_id, asset)


def check_reads_change_nothing(run: Run) -> None:
    """Reads are not journaled, so they must leave each shard's state byte for byte as
    it was, or a replay would not reach the state the shard had."""
    for auth in run.auths:
        shard = auth.user_id >> 40
        ledger = run.sim.ledgers[shard]
        before = ledger.state_hash()
        reads: list[AccountsRequest] = [
            Authenticate(auth),
            GetBalances(auth),
            GetOrder(auth, order_id=1),
            GetOrder(auth, client_order_id="nobody-used-this"),
            ListOrders(auth, open_only=False),
            ListFills(auth),
            GetTotals(Auth(0, b"", admin=True)),
            GetStatus(),
        ]
        for read in reads:
            run.sim.request(shard, read)
        assert ledger.state_hash() == before, auth.user_id


CONFIG_LOADED = load_config(CONFIG)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=1, max_size=120))
def test_money_is_conserved_and_matches_the_reference(actions: list[tuple[Any, ...]]) -> None:
    run = Run(CONFIG_LOADED)
    for step in actions:
        run.apply(step)
        check_invariants(run.sim)
    check_against_reference(run)
    check_reads_change_nothing(run)


def test_a_long_seeded_stream() -> None:
    """One long stream, always run, so deep books and many fills are covered every time."""
    rng = random.Random(20261122)
    run = Run(CONFIG_LOADED)
    for _ in range(3000):
        run.apply(_random_step(rng))
    check_invariants(run.sim)
    check_against_reference(run)
    check_reads_change_nothing(run)
    assert len(run.sim.trades) > 300


def _random_step(rng: random.Random) -> tuple[Any, ...]:
    user = rng.randrange(6)
    roll = rng.random()
    price = MID + rng.randint(-6, 6) * 500 * TICK
    qty = rng.randint(1, 40) * 100 * LOT
    if roll < 0.6:
        return (
            "place",
            user,
            rng.choice(["buy", "sell"]),
            "market" if rng.random() < 0.15 else "limit",
            price,
            qty,
            rng.choice(["GTC", "GTC", "GTC", "IOC", "FOK"]),
            rng.random() < 0.1,
            rng.choice(["expire_taker", "expire_maker", "expire_both"]),
            rng.random() < 0.5,
        )
    if roll < 0.8:
        return ("cancel", user, rng.randrange(10_000))
    if roll < 0.93:
        return ("amend", user, rng.randrange(10_000), price, qty)
    if roll < 0.96:
        return ("cancel_all", user)
    if roll < 0.98:
        return ("withdraw", user, rng.choice(["BTC", "USDT"]), rng.randint(1, 10**9))
    return ("deposit", user, rng.choice(["BTC", "USDT"]), rng.randint(1, 10**11))
