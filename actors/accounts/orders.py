"""Orders going out: place, cancel, cancel-all and amend, checked and sent to the engine.

Invariants:
- A request the rules or the funds refuse changes nothing and is answered at once;
  one that passes is answered when the engine's report settles it (see settlement).
- Funds are locked before a request leaves: a new order locks ``initial_lock`` from the
  free balance; an amend that could need more locks the difference first, and the
  order's lock covers both its current and its amended shape until the engine answers.
- An order id is assigned once, carries this shard, and a ``client_order_id`` names at
  most one of a user's orders, ever (closed orders' ids stay in
  ``User.closed_client_ids``).
- Every engine request is numbered on the market's link, kept until the engine answers
  it, and has a ``Pending`` entry that the answering report resolves.
- A user reaches only their own orders: another user's order is "not found".
"""

from __future__ import annotations

from actors.accounts.protocol import (
    AccountsReply,
    AmendOrder,
    CancelOrder,
    CancelOrders,
    ErrorReply,
    OrdersReply,
    PlaceOrder,
)
from actors.accounts.rules import check_amend, check_order
from actors.accounts.shard import LedgerOutput, Pending, ShardState
from actors.accounts.state import Order, User, initial_lock, required_lock, spends
from actors.engine.messages import Amend, Cancel, CancelAll, Place
from actors.engine.protocol import EngineRequest
from bourse.ids import make_order_id


class Orders:
    def __init__(self, state: ShardState) -> None:
        self.state = state

    def place(
        self, now: int, peer: bytes, rid: int, user: User, request: PlaceOrder, out: LedgerOutput
    ) -> AccountsReply | None:
        state = self.state
        market = state.markets.get(request.market)
        if market is None:
            return ErrorReply(400, "UNKNOWN_MARKET", f"unknown market {request.market!r}", "market")
        error = check_order(market, request)
        if error is not None:
            return error
        client_id = request.client_order_id
        if client_id is not None and user.used_client_id(client_id):
            return ErrorReply(
                409, "DUPLICATE_CLIENT_ORDER_ID", "client_order_id already used", "client_order_id"
            )
        lock = initial_lock(market, request.side, request.price, request.qty, request.quote_qty)
        asset = market.quote if request.side == "buy" else market.base
        balance = user.balance(asset)
        if lock > balance.free:
            return ErrorReply(
                422, "INSUFFICIENT_FUNDS", f"the order needs more free {asset} than the balance"
            )
        order_id = make_order_id(state.shard, state.next_order)
        state.next_order += 1
        order = Order(
            order_id=order_id,
            user_id=user.user_id,
            client_order_id=client_id,
            market=market.name,
            side=request.side,
            type=request.type,
            price=request.price,
            qty=request.qty,
            quote_qty=request.quote_qty,
            time_in_force=request.time_in_force,
            post_only=request.post_only,
            stp=request.stp,
            created_at=now,
            updated_at=now,
            locked=lock,
        )
        balance.free -= lock
        balance.locked += lock
        state.changes.balance(user.user_id, asset)
        user.orders[order_id] = order
        user.open_orders[order_id] = None
        if client_id is not None:
            user.client_ids[client_id] = order_id
        state.open_orders[order_id] = order
        command = Place(
            order_id,
            user.user_id,
            request.side,
            request.type,
            request.price,
            request.qty,
            request.quote_qty,
            request.time_in_force,
            request.post_only,
            request.stp,
        )
        pending = Pending("place", peer, rid, user.user_id, order_id)
        self._to_engine(market.name, command, pending, out)
        return None

    def cancel(
        self, peer: bytes, rid: int, user: User, request: CancelOrder, out: LedgerOutput
    ) -> AccountsReply | None:
        order = user.orders.get(request.order_id)
        if order is None:
            return self._not_open(user, request.order_id)
        pending = Pending("cancel", peer, rid, user.user_id, order.order_id)
        self._to_engine(order.market, Cancel(order.order_id, user.user_id), pending, out)
        return None

    def cancel_all(
        self, peer: bytes, rid: int, user: User, request: CancelOrders, out: LedgerOutput
    ) -> AccountsReply | None:
        if request.market is not None and request.market not in self.state.markets:
            return ErrorReply(400, "UNKNOWN_MARKET", f"unknown market {request.market!r}", "market")
        markets = sorted(
            {
                user.orders[order_id].market
                for order_id in user.open_orders
                if request.market in (None, user.orders[order_id].market)
            }
        )
        if not markets:
            return OrdersReply([])
        pending = Pending("cancel_all", peer, rid, user.user_id, waiting=len(markets))
        for market in markets:
            self._to_engine(market, CancelAll(user.user_id), pending, out)
        return None

    def amend(
        self, peer: bytes, rid: int, user: User, request: AmendOrder, out: LedgerOutput
    ) -> AccountsReply | None:
        order = user.orders.get(request.order_id)
        if order is None:
            return self._not_open(user, request.order_id)
        if order.type != "limit" or order.time_in_force != "GTC":
            return ErrorReply(422, "NOT_AMENDABLE", "only resting limit orders can be amended")
        if order.pending_amend is not None:
            return ErrorReply(409, "AMEND_IN_PROGRESS", "an amend of this order is in flight")
        market = self.state.markets[order.market]
        error = check_amend(market, order, request)
        if error is not None:
            return error
        order.pending_amend = (request.price or order.price, request.qty or order.qty)
        extra = required_lock(order, market) - order.locked
        if extra > 0:
            asset = spends(order, market)
            balance = user.balance(asset)
            if extra > balance.free:
                order.pending_amend = None
                return ErrorReply(
                    422, "INSUFFICIENT_FUNDS", f"the amend needs more free {asset} than the balance"
                )
            balance.free -= extra
            balance.locked += extra
            order.locked += extra
            self.state.changes.balance(user.user_id, asset)
        pending = Pending("amend", peer, rid, user.user_id, order.order_id)
        command = Amend(order.order_id, user.user_id, request.qty, request.price)
        self._to_engine(order.market, command, pending, out)
        return None

    def _not_open(self, user: User, order_id: int) -> ErrorReply:
        """Why an order that is not among the user's open ones cannot change."""
        closed = self.state.history.order(user.user_id, order_id)
        if closed is None:
            return ErrorReply(404, "ORDER_NOT_FOUND", "no such order", "order_id")
        return ErrorReply(422, "ORDER_CLOSED", f"the order is already {closed.status}")

    def _to_engine(
        self,
        market: str,
        command: Place | Cancel | CancelAll | Amend,
        pending: Pending,
        out: LedgerOutput,
    ) -> None:
        state = self.state
        state.commands += 1
        shard = state.shard
        request = state.links[market].send(lambda seq: EngineRequest(shard, seq, command))
        state.pending[(market, request.seq)] = pending
        out.engine.append((market, request))
