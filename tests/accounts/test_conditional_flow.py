"""Conditional orders, GTD, OCO lists, batches and the dead man's switch through real
ledgers and engines (the in-process simulation): what each user sees, step by step.

BTC-USDT: tick 0.01 USDT, lot 0.0001 BTC, maker 0.1 %, taker 0.2 %.  USDT has 6
decimals, BTC 8.
"""

from __future__ import annotations

from typing import Any

from simulation import Simulation, check_invariants
from test_ledger_properties import CONFIG_LOADED

from actors.accounts.protocol import (
    AccountsReply,
    AmendOrder,
    Auth,
    BatchReply,
    CancelAfter,
    CancelBatch,
    CancelOrder,
    CancelOrderList,
    Deposit,
    ErrorReply,
    GetOrder,
    GetOrderList,
    OrderListReply,
    OrderReply,
    OrderView,
    PlaceBatch,
    PlaceOrder,
    PlaceOrderList,
    SwitchReply,
)

USDT = 1_000_000
BTC = 100_000_000


def price(usdt: int) -> int:
    return usdt * USDT


class Desk:
    """A simulation with a few funded users on both shards."""

    def __init__(self) -> None:
        self.sim = Simulation(CONFIG_LOADED)
        self.alice = self.user(0)
        self.bob = self.user(1)
        self.carol = self.user(0)

    def user(self, shard: int) -> Auth:
        auth = self.sim.create_user(shard)
        for asset, amount in (("USDT", 1_000_000 * USDT), ("BTC", 10 * BTC)):
            self.call(auth, Deposit(auth, asset, amount))
        decimals = CONFIG_LOADED.assets["ETH"]
        self.call(auth, Deposit(auth, "ETH", 100 * 10**decimals))
        return auth

    def call(self, auth: Auth, request: Any) -> AccountsReply:
        return self.sim.request(auth.user_id >> 40, request)

    def place(self, auth: Auth, **fields: Any) -> AccountsReply:
        fields.setdefault("market", "BTC-USDT")
        return self.call(auth, PlaceOrder(auth, **fields))

    def order(self, auth: Auth, order_id: int) -> OrderView:
        reply = self.call(auth, GetOrder(auth, order_id=order_id))
        assert isinstance(reply, OrderReply), reply
        return reply.order

    def balance(self, auth: Auth, asset: str) -> tuple[int, int]:
        user = self.sim.ledgers[auth.user_id >> 40].state.users[auth.user_id]
        held = user.balances[asset]
        return held.free, held.locked

    def trade_at(self, usdt: int) -> None:
        """A trade of 0.01 BTC between bob (maker, sells) and carol (taker, buys)."""
        made = self.place(self.bob, side="sell", type="limit", price=price(usdt), qty=BTC // 100)
        assert isinstance(made, OrderReply), made
        taken = self.place(self.carol, side="buy", type="limit", price=price(usdt), qty=BTC // 100)
        assert isinstance(taken, OrderReply) and taken.order.status == "filled", taken


def placed(reply: AccountsReply) -> OrderView:
    assert isinstance(reply, OrderReply), reply
    return reply.order


def refused(reply: AccountsReply, status: int, code: str) -> None:
    assert isinstance(reply, ErrorReply), reply
    assert (reply.status, reply.code) == (status, code), reply


def test_a_stop_loss_waits_untriggered_then_sells_when_another_trade_crosses_it() -> None:
    desk = Desk()
    desk.trade_at(30_000)
    alice = desk.alice
    stop = placed(
        desk.place(alice, side="sell", type="stop_market", qty=BTC // 10, stop_price=price(29_000))
    )
    assert (stop.status, stop.triggered, stop.stop_price) == ("new", False, price(29_000))
    assert desk.balance(alice, "BTC") == (10 * BTC - BTC // 10, BTC // 10)  # locked as a sell
    assert desk.sim.engines["BTC-USDT"].depth(10) == ([], [])  # not in the book

    desk.place(desk.bob, side="buy", type="limit", price=price(28_500), qty=BTC)  # a bid below
    desk.trade_at(29_000)  # the last price reaches the stop

    after = desk.order(alice, stop.order_id)
    assert after.triggered is True and after.status == "filled"
    assert after.filled_qty == BTC // 10 and after.fills[0].price == price(28_500)
    assert desk.balance(alice, "BTC") == (10 * BTC - BTC // 10, 0)
    check_invariants(desk.sim)


def test_a_stop_that_would_trigger_at_once_is_refused_and_holds_nothing() -> None:
    desk = Desk()
    desk.trade_at(30_000)
    before = desk.balance(desk.alice, "USDT")
    reply = desk.place(
        desk.alice,
        side="buy",
        type="stop_limit",
        price=price(31_000),
        qty=BTC // 10,
        stop_price=price(29_000),  # a buy stop at or below the last price triggers at once
    )
    refused(reply, 422, "WOULD_TRIGGER_IMMEDIATELY")
    assert desk.balance(desk.alice, "USDT") == before
    check_invariants(desk.sim)


def test_a_conditional_order_cannot_be_amended_until_it_rests() -> None:
    desk = Desk()
    desk.trade_at(30_000)
    stop = placed(
        desk.place(
            desk.alice,
            side="buy",
            type="stop_limit",
            price=price(30_500),
            qty=BTC // 10,
            stop_price=price(30_400),
        )
    )
    refused(
        desk.call(desk.alice, AmendOrder(desk.alice, stop.order_id, qty=BTC // 20)),
        422,
        "ORDER_NOT_AMENDABLE",
    )
    desk.place(desk.bob, side="sell", type="limit", price=price(31_000), qty=BTC)  # no fill below
    desk.trade_at(30_400)  # triggers: it rests at 30,500 with nothing to take there
    resting = desk.order(desk.alice, stop.order_id)
    assert resting.triggered is True and resting.status == "new"
    assert desk.sim.engines["BTC-USDT"].best_bid() == price(30_500)
    amended = placed(desk.call(desk.alice, AmendOrder(desk.alice, stop.order_id, qty=BTC // 20)))
    assert amended.qty == BTC // 20
    check_invariants(desk.sim)


def test_gtd_orders_expire_at_their_time_and_release_their_funds() -> None:
    desk = Desk()
    desk.trade_at(30_000)
    alice = desk.alice
    free_before = desk.balance(alice, "USDT")[0]
    expire = desk.sim.now + 5_000
    limit = placed(
        desk.place(
            alice,
            side="buy",
            type="limit",
            price=price(20_000),
            qty=BTC // 10,
            time_in_force="GTD",
            expire_time=expire,
        )
    )
    stop = placed(
        desk.place(
            alice,
            side="buy",
            type="stop_limit",
            price=price(40_000),
            qty=BTC // 10,
            stop_price=price(39_000),
            time_in_force="GTD",
            expire_time=expire,
        )
    )
    assert limit.expire_time == expire and limit.time_in_force == "GTD"
    assert desk.balance(alice, "USDT")[1] > 0
    desk.sim.advance(4_000)
    assert desk.order(alice, limit.order_id).status == "new"
    desk.sim.advance(1_000)
    assert desk.order(alice, limit.order_id).status == "expired"
    assert desk.order(alice, stop.order_id).status == "expired"
    assert desk.balance(alice, "USDT") == (free_before, 0)
    check_invariants(desk.sim)


def test_an_oco_list_locks_the_larger_leg_once_and_a_fill_cancels_the_other() -> None:
    desk = Desk()
    desk.trade_at(30_000)
    alice = desk.alice
    free = desk.balance(alice, "USDT")[0]
    reply = desk.call(
        alice,
        PlaceOrderList(
            alice,
            "BTC-USDT",
            "buy",
            qty=BTC // 10,
            price=price(29_000),  # the limit leg: buy the dip
            stop_price=price(31_000),  # the stop leg: or the breakout
            stop_limit_price=price(31_500),
            client_list_id="breakout",
        ),
    )
    assert isinstance(reply, OrderListReply), reply
    oco = reply.order_list
    assert oco.status == "open" and oco.client_list_id == "breakout"
    limit, stop = oco.orders
    assert (limit.type, stop.type) == ("limit", "stop_limit")
    assert limit.list_id == stop.list_id == oco.list_id
    # 3,150 USDT and the worst-case fee of 0.2 %: the larger leg's need, once.
    assert desk.balance(alice, "USDT") == (free - 3_156_300_000, 3_156_300_000)
    refused(
        desk.call(alice, AmendOrder(alice, limit.order_id, qty=BTC // 20)),
        422,
        "ORDER_NOT_AMENDABLE",
    )

    desk.place(
        desk.bob, side="sell", type="limit", price=price(29_000), qty=BTC // 20
    )  # half fills

    after = desk.call(alice, GetOrderList(alice, oco.list_id))
    assert isinstance(after, OrderListReply)
    limit_after, stop_after = after.order_list.orders
    assert after.order_list.status == "done"
    assert limit_after.status == "partially_filled" and stop_after.status == "cancelled"
    # What is left locked is the limit leg's own remaining need at 29,000.
    remaining = 29_000 * USDT * (BTC // 20) // BTC
    assert desk.balance(alice, "USDT")[1] == remaining + remaining * 2 // 1000
    refused(desk.call(alice, CancelOrderList(alice, oco.list_id)), 422, "ORDER_CLOSED")
    check_invariants(desk.sim)


def test_a_triggered_stop_leg_cancels_the_limit_leg() -> None:
    desk = Desk()
    desk.trade_at(30_000)
    alice = desk.alice
    reply = desk.call(
        alice,
        PlaceOrderList(
            alice, "BTC-USDT", "sell", qty=BTC // 10, price=price(32_000), stop_price=price(29_500)
        ),
    )
    assert isinstance(reply, OrderListReply), reply
    assert desk.balance(alice, "BTC") == (10 * BTC - BTC // 10, BTC // 10)  # qty once, not twice
    desk.place(desk.bob, side="buy", type="limit", price=price(29_000), qty=BTC)
    desk.trade_at(29_500)
    after = desk.call(alice, GetOrderList(alice, reply.order_list.list_id))
    assert isinstance(after, OrderListReply)
    limit, stop = after.order_list.orders
    assert (limit.status, stop.status, stop.triggered) == ("cancelled", "filled", True)
    assert desk.balance(alice, "BTC") == (10 * BTC - BTC // 10, 0)
    check_invariants(desk.sim)


def test_cancelling_a_list_cancels_both_legs_and_releases_the_lock() -> None:
    desk = Desk()
    alice = desk.alice
    before = desk.balance(alice, "BTC")
    reply = desk.call(
        alice,
        PlaceOrderList(
            alice, "BTC-USDT", "sell", qty=BTC // 10, price=price(32_000), stop_price=price(29_500)
        ),
    )
    assert isinstance(reply, OrderListReply), reply
    cancelled = desk.call(alice, CancelOrderList(alice, reply.order_list.list_id))
    assert isinstance(cancelled, OrderListReply), cancelled
    assert [o.status for o in cancelled.order_list.orders] == ["cancelled", "cancelled"]
    assert desk.balance(alice, "BTC") == before
    refused(
        desk.call(desk.bob, GetOrderList(desk.bob, reply.order_list.list_id)),
        404,
        "ORDER_NOT_FOUND",
    )
    check_invariants(desk.sim)


def test_a_batch_with_one_bad_order_places_the_other_nineteen() -> None:
    desk = Desk()
    alice = desk.alice
    orders = [
        PlaceOrder(alice, "BTC-USDT", "buy", "limit", price=price(20_000 + i), qty=BTC // 100)
        for i in range(20)
    ]
    orders[7] = PlaceOrder(
        alice, "BTC-USDT", "buy", "limit", price=price(20_000) + 1, qty=BTC // 100
    )
    reply = desk.call(alice, PlaceBatch(alice, orders))
    assert isinstance(reply, BatchReply), reply
    assert len(reply.results) == 20
    assert isinstance(reply.results[7], ErrorReply) and reply.results[7].code == "OFF_TICK"
    views = [r.order for i, r in enumerate(reply.results) if i != 7 and isinstance(r, OrderReply)]
    assert len(views) == 19 and all(view.status == "new" for view in views)
    assert [view.price for view in views] == [o.price for i, o in enumerate(orders) if i != 7]

    ids = [view.order_id for view in views[:3]] + [12345]
    cancelled = desk.call(alice, CancelBatch(alice, ids))
    assert isinstance(cancelled, BatchReply), cancelled
    assert [type(r).__name__ for r in cancelled.results] == ["OrderReply"] * 3 + ["ErrorReply"]
    assert all(r.order.status == "cancelled" for r in cancelled.results[:3])  # type: ignore[union-attr]
    check_invariants(desk.sim)


def test_a_batch_item_of_another_user_is_refused_alone() -> None:
    desk = Desk()
    mine = PlaceOrder(desk.alice, "BTC-USDT", "buy", "limit", price=price(20_000), qty=BTC // 100)
    theirs = PlaceOrder(desk.bob, "BTC-USDT", "buy", "limit", price=price(20_000), qty=BTC // 100)
    reply = desk.call(desk.alice, PlaceBatch(desk.alice, [theirs, mine]))
    assert isinstance(reply, BatchReply)
    refused(reply.results[0], 400, "INVALID_FIELD")
    assert isinstance(reply.results[1], OrderReply)


def test_the_switch_fires_in_every_market_and_only_once() -> None:
    desk = Desk()
    desk.trade_at(30_000)
    alice = desk.alice
    resting = placed(
        desk.place(alice, side="buy", type="limit", price=price(20_000), qty=BTC // 10)
    )
    waiting = placed(
        desk.place(alice, side="sell", type="stop_market", qty=BTC // 10, stop_price=price(25_000))
    )
    eth = placed(
        desk.place(
            alice, market="ETH-USDT", side="sell", type="limit", price=price(3_000), qty=10**8
        )
    )
    armed = desk.call(alice, CancelAfter(alice, 5_000))
    assert isinstance(armed, SwitchReply) and armed.trigger_time == armed.now + 5_000
    desk.sim.advance(3_000)
    rearmed = desk.call(alice, CancelAfter(alice, 5_000))  # pushed back
    assert isinstance(rearmed, SwitchReply) and rearmed.trigger_time == rearmed.now + 5_000
    desk.sim.advance(3_000)  # past the first trigger time: nothing happens
    assert desk.order(alice, resting.order_id).status == "new"
    desk.sim.advance(2_000)
    for order in (resting, waiting, eth):
        assert desk.order(alice, order.order_id).status == "cancelled"
    assert desk.balance(alice, "USDT")[1] == 0 and desk.balance(alice, "BTC")[1] == 0
    later = placed(desk.place(alice, side="buy", type="limit", price=price(20_000), qty=BTC // 10))
    desk.sim.advance(10_000)  # it fired once: disarmed
    assert desk.order(alice, later.order_id).status == "new"
    check_invariants(desk.sim)


def test_a_disarmed_switch_does_not_fire_and_bad_timeouts_are_named() -> None:
    desk = Desk()
    alice = desk.alice
    resting = placed(
        desk.place(alice, side="buy", type="limit", price=price(20_000), qty=BTC // 10)
    )
    desk.call(alice, CancelAfter(alice, 1_000))
    off = desk.call(alice, CancelAfter(alice, 0))
    assert isinstance(off, SwitchReply) and off.trigger_time is None
    desk.sim.advance(5_000)
    assert desk.order(alice, resting.order_id).status == "new"
    for bad in (1, 999, 3_600_001, -1):
        reply = desk.call(alice, CancelAfter(alice, bad))
        assert isinstance(reply, ErrorReply) and reply.field == "timeout_ms", bad
    desk.call(alice, CancelOrder(alice, resting.order_id))
