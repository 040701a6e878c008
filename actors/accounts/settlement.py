"""Engine reports coming in: fills, fees, releases and closes settled on the users'
balances, and the requests they answer resolved.

Invariants:
- Each report is applied once, in the order of its number on the market's link; a
  repeat or a report past a gap changes nothing.
- A fill moves the traded quantity and notional between the user's locked and free
  balances and counts them in ``traded_in`` / ``traded_out``; the order's fee is charged
  cumulatively (``ceil(fee_exact / FEE_SCALE)`` in all, see actors/accounts/state.py)
  and added to ``fees``.  So the shard's conservation equation holds after every event.
- After every event an open order holds exactly what its remaining part could still
  need (``required_lock``); anything above that is released to the free balance at
  once.  A closed order holds nothing and leaves ``open_orders``.
- A reply that a report completes depends only on the request and the engine's
  reports, never on what other requests did to the balances: it may leave before the
  report is journaled (``LedgerOutput.settled``), since a replay says the same.
- Every fill gets the shard's next fill id and is archived as it happens; an order is
  archived as it closes, with its final view, and leaves memory (its client id stays
  in ``User.closed_client_ids``); an OCO list is archived and leaves memory once it is
  done and both its legs are closed.  Memory holds open orders (and lists) only.
- An item of a batch answers into its slot; the batch is answered once every slot is.
"""

from __future__ import annotations

import logging
from typing import Literal

from actors.accounts.history import ArchivedFill, ArchivedList, ArchivedOrder
from actors.accounts.orders import batch_reply
from actors.accounts.protocol import (
    AccountsReply,
    ErrorReply,
    FillView,
    Liquidity,
    OrderListReply,
    OrderReply,
    OrdersReply,
)
from actors.accounts.shard import LedgerOutput, Pending, ShardState
from actors.accounts.state import OPEN_STATUSES, Order, OrderList, User, required_lock, spends
from actors.engine.messages import (
    Accepted,
    Amended,
    Done,
    DoneStatus,
    Rejected,
    Trade,
    Triggered,
)
from actors.engine.protocol import PrivateEvent, Report
from bourse.ids import make_fill_id, shard_of_user
from bourse.market import FEE_SCALE, Market
from bourse.money import ceil_div

log = logging.getLogger("ledger")

# How an engine's rejection reads to an API client.
_ENGINE_REJECTIONS: dict[str, tuple[int, str]] = {
    "POST_ONLY_WOULD_TAKE": (422, "a post-only order would take liquidity"),
    "MARKET_HALTED": (422, "the market is halted: only cancels are accepted"),
    "MARKET_CANCEL_ONLY": (422, "the market takes cancels only"),
    "WOULD_TRIGGER_IMMEDIATELY": (422, "the stop price would trigger at once at the last price"),
    "ORDER_NOT_AMENDABLE": (
        422,
        "the order cannot be amended: it waits for its trigger or is a leg of an open list",
    ),
    "ORDER_NOT_FOUND": (404, "no such open order"),
    "AMEND_BELOW_FILLED": (422, "the new quantity is not above what already filled"),
    "INVALID_ORDER": (400, "the engine refused the order as invalid"),
    "DUPLICATE_ORDER_ID": (500, "the engine already holds this order id"),
    "EXPIRED": (408, "it reached the engine past its deadline: it was not executed"),
}


class Settlement:
    def __init__(self, state: ShardState) -> None:
        self.state = state

    def apply(self, report: Report, out: LedgerOutput) -> None:
        state = self.state
        market = state.markets.get(report.market)
        if market is None:
            log.error("report from an unknown market", extra={"fields": {"market": report.market}})
            return
        link = state.links[market.name]
        expected = link.received + 1
        verdict = link.accept(report.seq)
        if verdict != "accept":
            if verdict == "gap":
                if market.name not in out.gaps:
                    fields = {"market": market.name, "seq": report.seq, "expected": expected}
                    log.warning("report past a gap: asking again", extra={"fields": fields})
                out.gaps.add(market.name)
            return
        pending = None
        if report.request_seq:
            link.ack(report.request_seq)  # the engine applies requests in order
            pending = state.pending.pop((market.name, report.request_seq), None)
        for event in report.events:
            self._settle(market, report.time, event, pending)
        if pending is not None:
            self._resolve(pending, out)

    def _settle(
        self, market: Market, now: int, event: PrivateEvent, pending: Pending | None
    ) -> None:
        open_orders = self.state.open_orders
        match event:
            case Trade():
                shard = self.state.shard
                if shard_of_user(event.taker_user_id) == shard:
                    self._fill(market, now, event, event.taker_order_id, "taker")
                if shard_of_user(event.maker_user_id) == shard:
                    self._fill(market, now, event, event.maker_order_id, "maker")
            case Done():
                order = open_orders.get(event.order_id)
                if order is not None:
                    self._end_list(market, order, False, now)
                    self._close(market, order, event.status, now)
                    if pending is not None and pending.kind == "cancel_all":
                        pending.orders.append(order.order_id)
            case Amended():
                order = open_orders.get(event.order_id)
                if order is not None:
                    order.price = event.price
                    order.qty = event.qty
                    order.pending_amend = None
                    order.updated_at = now
                    self._release_excess(market, order)
            case Rejected():
                self._rejected(market, now, event, pending)
            case Accepted():
                order = open_orders.get(event.order_id)
                if order is not None:
                    self.state.changes.order(order)  # pushed: the order now rests
            case Triggered():
                order = open_orders.get(event.order_id)
                if order is not None:
                    self._end_list(market, order, True, now)
                    order.triggered = True
                    order.updated_at = now
                    self.state.changes.order(order)

    def _rejected(self, market: Market, now: int, event: Rejected, pending: Pending | None) -> None:
        status, message = _ENGINE_REJECTIONS.get(event.reason, (422, event.reason))
        if pending is not None:
            pending.error = ErrorReply(status, event.reason, message)
        order = self.state.open_orders.get(event.order_id)
        if order is None:
            return
        if pending is not None and pending.kind == "amend":
            order.pending_amend = None
            self._release_excess(market, order)
        elif pending is not None and pending.kind == "place":
            self._close(market, order, "rejected", now)
        elif pending is not None and pending.kind == "place_list" and order.pooled:
            self._reject_list(market, self._list_of(order), now)

    def _list_of(self, order: Order) -> OrderList:
        return self.state.users[order.user_id].lists[order.list_id]

    def _end_list(self, market: Market, order: Order, survives: bool, now: int) -> None:
        """Something happened to ``order``: if it is a leg of an open list, the list is
        done and its lock passes to the leg that goes on (``order`` when ``survives``)."""
        if not order.pooled:
            return
        user = self.state.users[order.user_id]
        oco = user.lists[order.list_id]
        oco.status = "done"
        oco.updated_at = now
        for leg in (oco.limit_id, oco.stop_id):
            user.orders[leg].pooled = False
        survivor = order if survives else user.orders[oco.other_leg(order.order_id)]
        survivor.locked += oco.locked
        oco.locked = 0
        self._release_excess(market, survivor)

    def _reject_list(self, market: Market, oco: OrderList, now: int) -> None:
        """The engine refused the list whole: both legs are rejected, its lock released."""
        user = self.state.users[oco.user_id]
        oco.status = "done"
        oco.updated_at = now
        for leg_id in (oco.limit_id, oco.stop_id):
            leg = user.orders.get(leg_id)  # open orders only
            if leg is not None:
                leg.pooled = False
                self._close(market, leg, "rejected", now)
        asset = market.quote if oco.side == "buy" else market.base
        balance = user.balance(asset)
        balance.locked -= oco.locked
        balance.free += oco.locked
        oco.locked = 0
        self.state.changes.balance(user.user_id, asset)

    def _fill(
        self, market: Market, now: int, trade: Trade, order_id: int, liquidity: Liquidity
    ) -> None:
        state = self.state
        order = state.open_orders.get(order_id)
        if order is None:
            log.error("fill for an unknown order", extra={"fields": {"order_id": order_id}})
            return
        self._end_list(market, order, True, now)
        user = state.users[order.user_id]
        notional = market.notional(trade.price, trade.qty)
        rate = market.maker_fee_ppm if liquidity == "maker" else market.taker_fee_ppm
        order.fee_exact += notional * rate
        paid = ceil_div(order.fee_exact, FEE_SCALE)
        fee = paid - order.fee_paid
        order.fee_paid = paid
        order.filled_qty += trade.qty
        order.filled_quote += notional
        order.updated_at = now
        if order.status == "new":
            order.status = "partially_filled"
        base, quote = user.balance(market.base), user.balance(market.quote)
        if order.side == "buy":
            spent = notional + fee
            quote.locked -= spent
            order.locked -= spent
            base.free += trade.qty
            state.traded_out[market.quote] += notional
            state.traded_in[market.base] += trade.qty
        else:
            base.locked -= trade.qty
            order.locked -= trade.qty
            quote.free += notional - fee
            state.traded_out[market.base] += trade.qty
            state.traded_in[market.quote] += notional
        state.fees[market.quote] += fee
        fill = FillView(
            trade.trade_id,
            order.order_id,
            market.name,
            order.side,
            trade.price,
            trade.qty,
            fee,
            market.quote,
            liquidity,
            now,
            make_fill_id(state.shard, state.next_fill),
        )
        state.next_fill += 1
        order.fills.append(fill)
        state.archive(ArchivedFill(user.user_id, fill))
        changes = state.changes
        changes.fill(user.user_id, fill)
        changes.balance(user.user_id, market.base)
        changes.balance(user.user_id, market.quote)
        self._release_excess(market, order)

    def _close(
        self, market: Market, order: Order, status: DoneStatus | Literal["rejected"], now: int
    ) -> None:
        order.status = status
        order.updated_at = now
        order.pending_amend = None
        self._release_excess(market, order)
        state = self.state
        del state.open_orders[order.order_id]
        user = state.users[order.user_id]
        user.open_orders.pop(order.order_id, None)
        del user.orders[order.order_id]
        if order.client_order_id is not None:
            user.client_ids.pop(order.client_order_id, None)
            user.closed_client_ids[order.client_order_id] = None
        state.closed[order.order_id] = order
        state.archive(ArchivedOrder(user.user_id, order.view()))
        oco = user.lists.get(order.list_id) if order.list_id else None
        if oco is not None and _over(oco, user):
            del user.lists[oco.list_id]
            state.archive(ArchivedList(user.user_id, state.list_view(user, oco)))

    def _release_excess(self, market: Market, order: Order) -> None:
        changes = self.state.changes
        excess = order.locked - required_lock(order, market)
        if excess == 0:
            changes.order(order)
            return
        if excess < 0:
            log.error(
                "an order holds less than it needs",
                extra={"fields": {"order_id": order.order_id, "short": -excess}},
            )
            return
        asset = spends(order, market)
        balance = self.state.users[order.user_id].balance(asset)
        balance.locked -= excess
        balance.free += excess
        order.locked -= excess
        changes.order(order)
        changes.balance(order.user_id, asset)

    def _resolve(self, pending: Pending, out: LedgerOutput) -> None:
        """Answer the request a report completed."""
        state = self.state
        user = state.users[pending.user_id]
        if pending.kind == "cancel_all":
            pending.waiting -= 1
            if pending.waiting:
                return
            views = [view for i in sorted(pending.orders) if (view := state.order_view(user, i))]
            out.settled.append((pending.peer, pending.rid, OrdersReply(views)))
            return
        reply: AccountsReply
        if pending.kind == "place_list" or pending.kind == "cancel_list":
            reply = self._list_reply(user, pending)
        else:
            reply = self._order_reply(user, pending)
        batch = pending.batch
        if batch is None:
            out.settled.append((pending.peer, pending.rid, reply))
            return
        batch.results[pending.slot] = reply
        batch.waiting -= 1
        if batch.waiting == 0:
            out.settled.append((batch.peer, batch.rid, batch_reply(batch)))

    def _order_reply(self, user: User, pending: Pending) -> AccountsReply:
        view = self.state.order_view(user, pending.order_id)
        if view is None:
            return pending.error or ErrorReply(404, "ORDER_NOT_FOUND", "no such order")
        if pending.error is None:
            return OrderReply(view)
        if pending.error.code == "ORDER_NOT_FOUND" and view.status not in OPEN_STATUSES:
            # the order filled (or expired) while the cancel or amend was on its way
            return ErrorReply(422, "ORDER_CLOSED", f"the order is already {view.status}")
        return pending.error

    def _list_reply(self, user: User, pending: Pending) -> AccountsReply:
        state = self.state
        oco = user.lists.get(pending.order_id)
        view = (
            state.list_view(user, oco)
            if oco is not None
            else state.history.order_list(user.user_id, pending.order_id)
        )
        if view is None:
            return pending.error or ErrorReply(404, "ORDER_NOT_FOUND", "no such order list")
        if pending.error is None:
            return OrderListReply(view)
        if pending.error.code == "ORDER_NOT_FOUND" and view.status == "done":
            # a leg traded, triggered or expired while the cancel was on its way
            return ErrorReply(422, "ORDER_CLOSED", "the order list is already done")
        return pending.error


def _over(oco: OrderList, user: User) -> bool:
    """A list that is done and whose legs are both closed: nothing about it can change."""
    legs_open = oco.limit_id in user.orders or oco.stop_id in user.orders
    return oco.status == "done" and not legs_open
