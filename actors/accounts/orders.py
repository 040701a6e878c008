"""Orders going out: place, cancel, cancel-all, amend, OCO lists and batches, checked and
sent to the engine.

Invariants:
- A request the rules or the funds refuse changes nothing and is answered at once;
  one that passes is answered when the engine's report settles it (see settlement).
- Funds are locked before a request leaves: a new order locks ``initial_lock`` from the
  free balance (a conditional order by the rules of its limit or market twin); an OCO
  list locks the larger of its two legs' needs once, on the list; an amend that could
  need more locks the difference first, and the order's lock covers both its current
  and its amended shape until the engine answers.
- An order id is assigned once, carries this shard, and a ``client_order_id`` names at
  most one of a user's orders, ever (closed orders' ids stay in
  ``User.closed_client_ids``); a ``client_list_id`` at most one of their lists.  A list
  id comes from the same counter as order ids.
- Every engine request is numbered on the market's link, kept until the engine answers
  it, and has a ``Pending`` entry that the answering report resolves, but the cancels
  of the dead man's switch, which answer no one.
- A user reaches only their own orders and lists: another user's is "not found".
- Each item of a batch is handled exactly as the same request alone would be, in the
  batch's order; a refusal of one changes nothing for the others.
"""

from __future__ import annotations

from actors.accounts.protocol import (
    AccountsReply,
    AccountsRequest,
    AmendOrder,
    BatchReply,
    CancelBatch,
    CancelOrder,
    CancelOrderList,
    CancelOrders,
    ErrorReply,
    OrderReply,
    OrdersReply,
    PlaceBatch,
    PlaceOrder,
    PlaceOrderList,
)
from actors.accounts.rules import check_amend, check_list, check_order, list_legs
from actors.accounts.shard import Batch, LedgerOutput, Pending, ShardState
from actors.accounts.state import (
    Order,
    OrderList,
    User,
    initial_lock,
    required_lock,
    spends,
)
from actors.engine.messages import Amend, Cancel, CancelAll, CancelList, Place, PlaceList
from actors.engine.protocol import EngineRequest
from bourse.ids import make_order_id
from bourse.market import Market

EngineCommand = Place | Cancel | CancelAll | Amend | PlaceList | CancelList
# Only a resting limit order can be amended: a limit order, or a triggered limit twin.
_LIMIT_TYPES = frozenset(("limit", "stop_limit", "take_profit_limit"))
_DUPLICATE_CLIENT_ID = ErrorReply(
    409, "DUPLICATE_CLIENT_ORDER_ID", "client_order_id already used", "client_order_id"
)


class Orders:
    def __init__(self, state: ShardState) -> None:
        self.state = state
        # The deadline of the request being handled, carried by every engine request it
        # sends (set by the ledger for each request; 0: none).
        self.deadline = 0

    # --- orders ---------------------------------------------------------------------------

    def place(
        self,
        now: int,
        peer: bytes,
        rid: int,
        user: User,
        request: PlaceOrder,
        out: LedgerOutput,
        batch: Batch | None = None,
        slot: int = 0,
    ) -> AccountsReply | None:
        state = self.state
        market = state.markets.get(request.market)
        if market is None:
            return _unknown_market(request.market)
        error = check_order(market, request, now)
        if error is not None:
            return error
        client_id = request.client_order_id
        if client_id is not None and user.used_client_id(client_id):
            return _DUPLICATE_CLIENT_ID
        lock = initial_lock(market, request.side, request.price, request.qty, request.quote_qty)
        refused = self._lock(user, market, request, lock)
        if refused is not None:
            return refused
        order = self._new_order(now, user, market, request, lock)
        pending = Pending("place", peer, rid, user.user_id, order.order_id, batch=batch, slot=slot)
        self._to_engine(market.name, _place_command(order), out, pending)
        return None

    def cancel(
        self,
        peer: bytes,
        rid: int,
        user: User,
        request: CancelOrder,
        out: LedgerOutput,
        batch: Batch | None = None,
        slot: int = 0,
    ) -> AccountsReply | None:
        order = user.orders.get(request.order_id)
        if order is None:
            return self._not_open(user, request.order_id)
        pending = Pending("cancel", peer, rid, user.user_id, order.order_id, batch=batch, slot=slot)
        self._to_engine(order.market, Cancel(order.order_id, user.user_id), out, pending)
        return None

    def cancel_all(
        self, peer: bytes, rid: int, user: User, request: CancelOrders, out: LedgerOutput
    ) -> AccountsReply | None:
        if request.market is not None and request.market not in self.state.markets:
            return _unknown_market(request.market)
        markets = open_markets(user, request.market)
        if not markets:
            return OrdersReply([])
        pending = Pending("cancel_all", peer, rid, user.user_id, waiting=len(markets))
        for market in markets:
            self._to_engine(market, CancelAll(user.user_id), out, pending)
        return None

    def cancel_everything(self, user: User, out: LedgerOutput) -> None:
        """Cancel every open order of ``user`` in every market, answering no one (the
        dead man's switch)."""
        for market in open_markets(user, None):
            self._to_engine(market, CancelAll(user.user_id), out, None)

    def amend(
        self, peer: bytes, rid: int, user: User, request: AmendOrder, out: LedgerOutput
    ) -> AccountsReply | None:
        order = user.orders.get(request.order_id)
        if order is None:
            return self._not_open(user, request.order_id)
        amendable = order.type in _LIMIT_TYPES and order.time_in_force in ("GTC", "GTD")
        if not amendable or (order.conditional and not order.triggered) or order.pooled:
            return ErrorReply(
                422,
                "ORDER_NOT_AMENDABLE",
                "only a resting limit order (GTC or GTD, not a leg of an open list) can be amended",
            )
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
        self._to_engine(order.market, command, out, pending)
        return None

    def _not_open(self, user: User, order_id: int) -> ErrorReply:
        """Why an order that is not among the user's open ones cannot change."""
        closed = self.state.history.order(user.user_id, order_id)
        if closed is None:
            return ErrorReply(404, "ORDER_NOT_FOUND", "no such order", "order_id")
        return ErrorReply(422, "ORDER_CLOSED", f"the order is already {closed.status}")

    # --- OCO lists --------------------------------------------------------------------------

    def place_list(
        self,
        now: int,
        peer: bytes,
        rid: int,
        user: User,
        request: PlaceOrderList,
        out: LedgerOutput,
    ) -> AccountsReply | None:
        state = self.state
        market = state.markets.get(request.market)
        if market is None:
            return _unknown_market(request.market)
        error = check_list(market, request, now)
        if error is not None:
            return error
        client_id = request.client_list_id
        if client_id is not None and client_id in user.client_list_ids:
            return ErrorReply(
                409, "DUPLICATE_CLIENT_LIST_ID", "client_list_id already used", "client_list_id"
            )
        limit, stop = list_legs(request)
        lock = max(
            initial_lock(market, leg.side, leg.price, leg.qty, leg.quote_qty)
            for leg in (limit, stop)
        )
        refused = self._lock(user, market, limit, lock)
        if refused is not None:
            return refused
        list_id = self._next_id()
        limit_order = self._new_order(now, user, market, limit, 0, list_id)
        stop_order = self._new_order(now, user, market, stop, 0, list_id)
        oco = OrderList(
            list_id,
            user.user_id,
            client_id,
            market.name,
            request.side,
            limit_order.order_id,
            stop_order.order_id,
            now,
            now,
            locked=lock,
        )
        user.lists[list_id] = oco
        if client_id is not None:
            user.client_list_ids[client_id] = list_id
        command = PlaceList(list_id, _place_command(limit_order), _place_command(stop_order))
        pending = Pending("place_list", peer, rid, user.user_id, list_id)
        self._to_engine(market.name, command, out, pending)
        return None

    def cancel_list(
        self, peer: bytes, rid: int, user: User, request: CancelOrderList, out: LedgerOutput
    ) -> AccountsReply | None:
        oco = user.lists.get(request.list_id)
        if oco is None:
            if self.state.history.order_list(user.user_id, request.list_id) is not None:
                return ErrorReply(422, "ORDER_CLOSED", "the order list is already done")
            return ErrorReply(404, "ORDER_NOT_FOUND", "no such order list", "list_id")
        if oco.status != "open":
            return ErrorReply(422, "ORDER_CLOSED", "the order list is already done")
        pending = Pending("cancel_list", peer, rid, user.user_id, oco.list_id)
        self._to_engine(oco.market, CancelList(oco.list_id, user.user_id), out, pending)
        return None

    # --- batches ----------------------------------------------------------------------------

    def place_batch(
        self, now: int, peer: bytes, rid: int, user: User, request: PlaceBatch, out: LedgerOutput
    ) -> AccountsReply | None:
        batch = Batch(peer, rid, [None] * len(request.orders))
        for slot, item in enumerate(request.orders):
            if item.auth != request.auth:
                reply: AccountsReply | None = ErrorReply(
                    400, "INVALID_FIELD", "every order of a batch is the batch's user's", "auth"
                )
            else:
                reply = self.place(now, peer, rid, user, item, out, batch, slot)
            _settle_item(batch, slot, reply)
        return _batch_answer(batch)

    def cancel_batch(
        self, peer: bytes, rid: int, user: User, request: CancelBatch, out: LedgerOutput
    ) -> AccountsReply | None:
        batch = Batch(peer, rid, [None] * len(request.order_ids))
        for slot, order_id in enumerate(request.order_ids):
            item = CancelOrder(request.auth, order_id)
            _settle_item(batch, slot, self.cancel(peer, rid, user, item, out, batch, slot))
        return _batch_answer(batch)

    # --- shared steps -----------------------------------------------------------------------

    def _lock(
        self, user: User, market: Market, request: PlaceOrder, lock: int
    ) -> ErrorReply | None:
        """Move ``lock`` of what ``request`` spends from free to locked, or refuse."""
        asset = market.quote if request.side == "buy" else market.base
        balance = user.balance(asset)
        if lock > balance.free:
            return ErrorReply(
                422, "INSUFFICIENT_FUNDS", f"the order needs more free {asset} than the balance"
            )
        balance.free -= lock
        balance.locked += lock
        self.state.changes.balance(user.user_id, asset)
        return None

    def _next_id(self) -> int:
        state = self.state
        assigned = make_order_id(state.shard, state.next_order)
        state.next_order += 1
        return assigned

    def _new_order(
        self,
        now: int,
        user: User,
        market: Market,
        request: PlaceOrder,
        lock: int,
        list_id: int = 0,
    ) -> Order:
        """Record a new open order holding ``lock`` (the leg of list ``list_id``, whose
        list holds its funds, holds none)."""
        order_id = self._next_id()
        order = Order(
            order_id=order_id,
            user_id=user.user_id,
            client_order_id=request.client_order_id,
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
            stop_price=request.stop_price,
            expire_time=request.expire_time,
            list_id=list_id,
            pooled=list_id != 0,
        )
        user.orders[order_id] = order
        user.open_orders[order_id] = None
        if request.client_order_id is not None:
            user.client_ids[request.client_order_id] = order_id
        self.state.open_orders[order_id] = order
        return order

    def _to_engine(
        self, market: str, command: EngineCommand, out: LedgerOutput, pending: Pending | None
    ) -> None:
        state = self.state
        state.commands += 1
        shard = state.shard
        deadline = self.deadline
        request = state.links[market].send(lambda seq: EngineRequest(shard, seq, command, deadline))
        if pending is not None:
            state.pending[(market, request.seq)] = pending
        out.engine.append((market, request))


def _place_command(order: Order) -> Place:
    return Place(
        order.order_id,
        order.user_id,
        order.side,
        order.type,
        order.price,
        order.qty,
        order.quote_qty,
        order.time_in_force,
        order.post_only,
        order.stp,
        order.stop_price,
        order.expire_time,
    )


def _unknown_market(name: str) -> ErrorReply:
    return ErrorReply(400, "UNKNOWN_MARKET", f"unknown market {name!r}", "market")


def _settle_item(batch: Batch, slot: int, reply: AccountsReply | None) -> None:
    """An item answered at once fills its slot; one sent to an engine waits for it."""
    if reply is None:
        batch.waiting += 1
    else:
        batch.results[slot] = reply


def _batch_answer(batch: Batch) -> AccountsReply | None:
    """The batch's answer now, when no item waits for an engine."""
    if batch.waiting:
        return None
    return batch_reply(batch)


def batch_reply(batch: Batch) -> BatchReply:
    results = [reply for reply in batch.results if isinstance(reply, OrderReply | ErrorReply)]
    assert len(results) == len(batch.results), "every item of a batch is answered"
    return BatchReply(results)


def open_markets(user: User, market: str | None) -> list[str]:
    """The markets (or just ``market``) where ``user`` has open orders, sorted."""
    orders = user.orders
    return sorted(
        {
            orders[order_id].market
            for order_id in user.open_orders
            if market is None or orders[order_id].market == market
        }
    )


def engines_needed(state: ShardState, request: AccountsRequest) -> set[str]:
    """The markets whose engines ``request`` would be sent to (a guess from the state as
    it is, for the actor's quick refusal when one is down; never journaled)."""
    match request:
        case PlaceOrder() | PlaceOrderList():
            return {request.market}
        case PlaceBatch():
            return {item.market for item in request.orders}
        case CancelOrder() | AmendOrder() | CancelBatch() | CancelOrders() | CancelOrderList():
            user = state.users.get(request.auth.user_id)
            return set() if user is None else _markets_touched(user, request)
    return set()


def _markets_touched(
    user: User, request: CancelOrder | AmendOrder | CancelBatch | CancelOrders | CancelOrderList
) -> set[str]:
    match request:
        case CancelOrder() | AmendOrder():
            ids = [request.order_id]
        case CancelBatch():
            ids = request.order_ids
        case CancelOrders():
            return set(open_markets(user, request.market))
        case CancelOrderList():
            oco = user.lists.get(request.list_id)
            return {oco.market} if oco is not None and oco.status == "open" else set()
    orders = (user.orders.get(order_id) for order_id in ids)
    return {order.market for order in orders if order is not None and order.is_open}
