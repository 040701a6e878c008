"""The history of orders and fills through real Ledgers and engines (in one process),
against a reference built from what the test itself saw: every order ever placed and
every trade.  Paging sees each once, open orders stay in memory and nothing else, client
ids are refused forever, and a ledger restored from its snapshot over the same store
answers the same pages."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ledger_properties import CONFIG_LOADED, Run, _random_step, action

from actors.accounts.ledger import Ledger
from actors.accounts.protocol import (
    Auth,
    ErrorReply,
    FillsReply,
    FillView,
    GetOrder,
    ListFills,
    ListOrders,
    OrderReply,
    OrdersReply,
    OrderView,
    PlaceOrder,
)
from actors.accounts.shard import LedgerOutput
from bourse.ids import shard_of_user


def every_order(ledger: Ledger, auth: Auth, page: int) -> list[OrderView]:
    seen: list[OrderView] = []
    from_id = 0
    while True:
        reply = ledger_read(ledger, ListOrders(auth, open_only=False, limit=page, from_id=from_id))
        assert isinstance(reply, OrdersReply), reply
        seen.extend(reply.orders)
        if len(reply.orders) < page:
            return seen
        from_id = reply.orders[-1].order_id + 1


def every_fill(ledger: Ledger, auth: Auth, page: int) -> list[FillView]:
    seen: list[FillView] = []
    from_id = 0
    while True:
        reply = ledger_read(ledger, ListFills(auth, limit=page, from_id=from_id))
        assert isinstance(reply, FillsReply), reply
        seen.extend(reply.fills)
        if len(reply.fills) < page:
            return seen
        from_id = reply.fills[-1].fill_id + 1


def ledger_read(ledger: Ledger, request: Any) -> Any:
    out = LedgerOutput()
    ledger.handle_request(0, b"reader", 0, request, out)
    [(_, _, reply)] = out.replies
    return reply


def check_history(run: Run, page: int) -> None:
    placed: dict[int, set[int]] = defaultdict(set)
    for auth, order_id in run.placed:
        placed[auth.user_id].add(order_id)
    fills_expected: dict[int, int] = defaultdict(int)
    for _, trade in run.sim.trades:
        fills_expected[trade.taker_user_id] += 1
        fills_expected[trade.maker_user_id] += 1
    for auth in run.auths:
        ledger = run.sim.ledgers[shard_of_user(auth.user_id)]
        user = ledger.state.users[auth.user_id]
        orders = every_order(ledger, auth, page)
        ids = [order.order_id for order in orders]
        assert ids == sorted(set(ids)), "oldest first, each once"
        assert placed[auth.user_id] <= set(ids)
        for order in orders:
            assert (order.status in ("new", "partially_filled")) == (order.order_id in user.orders)
            assert sum(fill.qty for fill in order.fills) == order.filled_qty
            got = ledger_read(ledger, GetOrder(auth, order_id=order.order_id))
            assert isinstance(got, OrderReply) and got.order == order
        assert set(user.orders) == set(user.open_orders) <= set(ids)
        fills = every_fill(ledger, auth, page)
        assert [f.fill_id for f in fills] == sorted({f.fill_id for f in fills})
        assert len(fills) == fills_expected[auth.user_id]
        by_order = {fill.fill_id for order in orders for fill in order.fills}
        assert by_order == {fill.fill_id for fill in fills}
        newest = ledger_read(ledger, ListOrders(auth, open_only=False, limit=page))
        assert [o.order_id for o in newest.orders] == ids[::-1][:page]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=1, max_size=120), st.integers(1, 7))
def test_paging_sees_every_order_and_fill_once(actions: list[tuple[Any, ...]], page: int) -> None:
    run = Run(CONFIG_LOADED)
    for step in actions:
        run.apply(step)
    check_history(run, page)


def test_a_long_stream_and_a_restored_ledger_over_the_same_store() -> None:
    rng = random.Random(7)
    run = Run(CONFIG_LOADED)
    for _ in range(1500):
        run.apply(_random_step(rng))
    check_history(run, 50)
    for shard, ledger in enumerate(run.sim.ledgers):
        restored = Ledger.restore(CONFIG_LOADED, ledger.snapshot_bytes(), ledger.state.history)
        for auth in run.auths:
            if shard_of_user(auth.user_id) != shard:
                continue
            assert every_order(restored, auth, 100) == every_order(ledger, auth, 100)
            assert every_fill(restored, auth, 100) == every_fill(ledger, auth, 100)


def test_a_client_order_id_is_refused_however_long_ago_its_order_closed() -> None:
    run = Run(CONFIG_LOADED)
    auth = run.auths[0]
    shard = shard_of_user(auth.user_id)
    first = PlaceOrder(
        auth,
        "BTC-USDT",
        "buy",
        "limit",
        price=10_000_000_000,
        qty=10_000,
        client_order_id="c1",
        time_in_force="IOC",
    )
    reply = run.sim.request(shard, first)
    assert isinstance(reply, OrderReply) and reply.order.status == "expired"
    rng = random.Random(1)
    for _ in range(300):
        run.apply(_random_step(rng))
    again = run.sim.request(shard, first)
    assert isinstance(again, ErrorReply) and again.code == "DUPLICATE_CLIENT_ORDER_ID"
    found = ledger_read(run.sim.ledgers[shard], GetOrder(auth, client_order_id="c1"))
    assert isinstance(found, OrderReply) and found.order.order_id == reply.order.order_id
