"""One accounts shard as a pure state machine: requests and engine reports in, replies,
engine requests and private events out.  No clock (the caller passes ``now``), no
randomness (API-key secrets are drawn by the gateway), no I/O.

Invariants (tests/accounts check them after long random runs):
- Per asset, over this shard: sum of users' free + locked, plus fees, equals deposits -
  withdrawals + traded_in - traded_out.  Summed over every shard, once every report is
  settled, traded_in equals traded_out, so free + locked + fees = deposits - withdrawals.
- No balance is ever negative; every locked unit belongs to an open order
  (see actors/accounts/state.py); a closed order holds nothing.
- A user's requests see only that user's orders and funds: an order of another user is
  "not found", exactly like an order that does not exist.
- Each engine report is applied once, in the order of its link sequence number.
- A read (balances, orders, fills, status, totals) changes nothing, not even the shape of
  the state: reads are not journaled, so a replay must reach the same bytes without them.
- A reply that a report completes (``LedgerOutput.settled``) depends only on the request
  and the engine's reports, never on what other requests did to the balances.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from actors.accounts.protocol import (
    AccountsReply,
    AccountsRequest,
    AmendOrder,
    AssetTotals,
    Auth,
    Authenticate,
    Authenticated,
    BalanceEvent,
    BalancesReply,
    BalanceView,
    CancelOrder,
    CancelOrders,
    CreateUser,
    Deposit,
    ErrorReply,
    FillEvent,
    FillsReply,
    FillView,
    GetBalances,
    GetOrder,
    GetStatus,
    GetTotals,
    ListFills,
    ListOrders,
    OrderEvent,
    OrderReply,
    OrdersReply,
    PlaceOrder,
    PrivateEvent,
    ShardStatus,
    TotalsReply,
    UserCreated,
    Withdraw,
)
from actors.accounts.rules import check_amend, check_order
from actors.accounts.state import (
    Balance,
    Order,
    User,
    initial_lock,
    required_lock,
    spends,
)
from actors.engine.messages import (
    Accepted,
    Amend,
    Amended,
    Cancel,
    CancelAll,
    Done,
    DoneStatus,
    Place,
    Rejected,
    Trade,
)
from actors.engine.protocol import EngineRequest, Report
from actors.link import Link, LinkState
from bourse.config import Config
from bourse.ids import make_order_id, make_user_id, shard_of_user
from bourse.market import FEE_SCALE, Market
from bourse.money import MAX_UNITS, ceil_div

log = logging.getLogger("ledger")

KEEP_CLOSED_ORDERS = 1000
KEEP_FILLS = 1000
MAX_LIST = 1000

# How an engine's rejection reads to an API client.
_ENGINE_REJECTIONS: dict[str, tuple[int, str]] = {
    "POST_ONLY_WOULD_TAKE": (422, "a post-only order would take liquidity"),
    "MARKET_HALTED": (422, "the market is halted: only cancels are accepted"),
    "ORDER_NOT_FOUND": (404, "no such open order"),
    "AMEND_BELOW_FILLED": (422, "the new quantity is not above what already filled"),
    "INVALID_ORDER": (400, "the engine refused the order as invalid"),
    "DUPLICATE_ORDER_ID": (500, "the engine already holds this order id"),
}


@dataclass(slots=True)
class Pending:
    """A gateway request waiting for one or more engine reports."""

    kind: str
    peer: bytes
    rid: int
    user_id: int
    order_id: int = 0
    waiting: int = 1
    orders: list[int] = field(default_factory=list)
    error: ErrorReply | None = None


class LedgerSnapshot(msgspec.Struct, frozen=True):
    shard: int
    next_user: int
    next_order: int
    users: list[User]
    fees: dict[str, int]
    deposits: dict[str, int]
    withdrawals: dict[str, int]
    traded_in: dict[str, int]
    traded_out: dict[str, int]
    links: dict[str, LinkState[EngineRequest]]
    commands: int


_snapshot_encoder = msgspec.msgpack.Encoder()


@dataclass(slots=True)
class LedgerOutput:
    replies: list[tuple[bytes, int, AccountsReply]] = field(default_factory=list)
    # Replies that an engine report completed.  What they say follows from the request
    # (journaled before it went to the engine) and the report (journaled by the engine and
    # kept there until this shard syncs past it), so they may leave before this turn's
    # commit: after a crash the engine resends the report and the shard says the same.
    settled: list[tuple[bytes, int, AccountsReply]] = field(default_factory=list)
    engine: list[tuple[str, EngineRequest]] = field(default_factory=list)
    events: list[tuple[bytes, PrivateEvent]] = field(default_factory=list)


class Ledger:
    def __init__(self, config: Config, shard: int) -> None:
        self.config = config
        self.shard = shard
        self.markets: dict[str, Market] = config.markets
        self.assets: dict[str, int] = config.assets
        self.users: dict[int, User] = {}
        self.open_orders: dict[int, Order] = {}
        self.next_user = 1
        self.next_order = 1
        self.fees: dict[str, int] = dict.fromkeys(config.assets, 0)
        self.deposits: dict[str, int] = dict.fromkeys(config.assets, 0)
        self.withdrawals: dict[str, int] = dict.fromkeys(config.assets, 0)
        self.traded_in: dict[str, int] = dict.fromkeys(config.assets, 0)
        self.traded_out: dict[str, int] = dict.fromkeys(config.assets, 0)
        # Per market: requests to its engine out, the engine's reports in.
        self.links: dict[str, Link[EngineRequest]] = {market: Link() for market in config.markets}
        self.pending: dict[tuple[str, int], Pending] = {}
        self.commands = 0
        self._dirty_orders: dict[int, Order] = {}
        self._dirty_balances: set[tuple[int, str]] = set()
        self._new_fills: list[tuple[int, FillView]] = []
        # Whether anyone subscribed to a private topic; events for nobody are not built.
        # Not state: it never changes what the ledger holds or replies.
        self.listening: Callable[[bytes], bool] = _everyone
        self.anyone_listening: Callable[[], bool] = _always

    # --- requests ---------------------------------------------------------------------------

    def handle_request(
        self, now: int, peer: bytes, rid: int, request: AccountsRequest, out: LedgerOutput
    ) -> None:
        reply = self._dispatch(now, peer, rid, request, out)
        if reply is not None:
            out.replies.append((peer, rid, reply))
        self.flush_events(out)

    def _dispatch(
        self, now: int, peer: bytes, rid: int, request: AccountsRequest, out: LedgerOutput
    ) -> AccountsReply | None:
        match request:
            case CreateUser():
                return self._create_user(request)
            case GetStatus():
                return self.status()
            case GetTotals() if request.auth.admin:
                # Totals concern no user: a shard with no users (or not this one) answers too.
                return self.totals()
        user = self._authenticate(request.auth)
        if user is None:
            return ErrorReply(401, "UNAUTHENTICATED", "missing or wrong API key")
        match request:
            case Authenticate():
                return Authenticated(user.user_id)
            case Deposit():
                return self._deposit(user, request)
            case Withdraw():
                return self._withdraw(user, request)
            case GetBalances():
                return self._balances(user)
            case PlaceOrder():
                return self._place(now, peer, rid, user, request, out)
            case CancelOrder():
                return self._cancel(peer, rid, user, request, out)
            case CancelOrders():
                return self._cancel_all(peer, rid, user, request, out)
            case AmendOrder():
                return self._amend(now, peer, rid, user, request, out)
            case GetOrder():
                return self._get_order(user, request)
            case ListOrders():
                return self._list_orders(user, request)
            case ListFills():
                return self._list_fills(user, request)
            case GetTotals():  # the admin's were answered above
                return ErrorReply(403, "FORBIDDEN", "totals need the admin key")
        return None

    def _authenticate(self, auth: Auth) -> User | None:
        user = self.users.get(auth.user_id)
        if user is None:
            return None
        if auth.admin:
            return user
        return user if user.key_hash == auth.key_hash else None

    def _create_user(self, request: CreateUser) -> AccountsReply:
        if len(request.secret_hash) != 32:
            return ErrorReply(400, "INVALID_FIELD", "secret_hash must be 32 bytes", "secret_hash")
        user_id = make_user_id(self.shard, self.next_user)
        self.next_user += 1
        self.users[user_id] = User(user_id, request.secret_hash)
        return UserCreated(user_id)

    def _deposit(self, user: User, request: Deposit) -> AccountsReply:
        if not (request.auth.admin or self.config.exchange.faucet):
            return ErrorReply(403, "FORBIDDEN", "deposits need the admin key (the faucet is off)")
        error = self._check_asset_amount(request.asset, request.amount)
        if error is not None:
            return error
        balance = user.balance(request.asset)
        if balance.free + balance.locked + request.amount > MAX_UNITS:
            return ErrorReply(400, "OUT_OF_RANGE", "the balance would be too large", "amount")
        balance.free += request.amount
        self.deposits[request.asset] += request.amount
        self._touch_balance(user.user_id, request.asset)
        return BalancesReply([_balance_view(request.asset, balance)])

    def _withdraw(self, user: User, request: Withdraw) -> AccountsReply:
        error = self._check_asset_amount(request.asset, request.amount)
        if error is not None:
            return error
        balance = user.balance(request.asset)
        if request.amount > balance.free:
            return ErrorReply(
                422, "INSUFFICIENT_FUNDS", "amount is more than the free balance", "amount"
            )
        balance.free -= request.amount
        self.withdrawals[request.asset] += request.amount
        self._touch_balance(user.user_id, request.asset)
        return BalancesReply([_balance_view(request.asset, balance)])

    def _check_asset_amount(self, asset: str, amount: int) -> ErrorReply | None:
        if asset not in self.assets:
            return ErrorReply(400, "UNKNOWN_ASSET", f"unknown asset {asset!r}", "asset")
        if not 0 < amount <= MAX_UNITS:
            return ErrorReply(400, "NOT_POSITIVE", "amount must be greater than zero", "amount")
        return None

    def _balances(self, user: User) -> AccountsReply:
        # A read leaves the state as it found it (it is not journaled): no zero balance
        # is created for an asset the user never held.
        held = user.balances
        return BalancesReply(
            [_balance_view(asset, held.get(asset) or _NOTHING) for asset in self.assets]
        )

    # --- orders -----------------------------------------------------------------------------

    def _place(
        self,
        now: int,
        peer: bytes,
        rid: int,
        user: User,
        request: PlaceOrder,
        out: LedgerOutput,
    ) -> AccountsReply | None:
        market = self.markets.get(request.market)
        if market is None:
            return ErrorReply(400, "UNKNOWN_MARKET", f"unknown market {request.market!r}", "market")
        error = check_order(market, request)
        if error is not None:
            return error
        client_id = request.client_order_id
        if client_id is not None and client_id in user.client_ids:
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
        order_id = make_order_id(self.shard, self.next_order)
        self.next_order += 1
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
        self._touch_balance(user.user_id, asset)
        user.orders[order_id] = order
        user.open_orders[order_id] = None
        if client_id is not None:
            user.client_ids[client_id] = order_id
        self.open_orders[order_id] = order
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

    def _cancel(
        self, peer: bytes, rid: int, user: User, request: CancelOrder, out: LedgerOutput
    ) -> AccountsReply | None:
        order = user.orders.get(request.order_id)
        if order is None:
            return ErrorReply(404, "ORDER_NOT_FOUND", "no such order", "order_id")
        if not order.is_open:
            return ErrorReply(422, "ORDER_CLOSED", f"the order is already {order.status}")
        pending = Pending("cancel", peer, rid, user.user_id, order.order_id)
        self._to_engine(order.market, Cancel(order.order_id, user.user_id), pending, out)
        return None

    def _cancel_all(
        self, peer: bytes, rid: int, user: User, request: CancelOrders, out: LedgerOutput
    ) -> AccountsReply | None:
        if request.market is not None and request.market not in self.markets:
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

    def _amend(
        self,
        now: int,
        peer: bytes,
        rid: int,
        user: User,
        request: AmendOrder,
        out: LedgerOutput,
    ) -> AccountsReply | None:
        order = user.orders.get(request.order_id)
        if order is None:
            return ErrorReply(404, "ORDER_NOT_FOUND", "no such order", "order_id")
        if not order.is_open:
            return ErrorReply(422, "ORDER_CLOSED", f"the order is already {order.status}")
        if order.type != "limit" or order.time_in_force != "GTC":
            return ErrorReply(422, "NOT_AMENDABLE", "only resting limit orders can be amended")
        if order.pending_amend is not None:
            return ErrorReply(409, "AMEND_IN_PROGRESS", "an amend of this order is in flight")
        market = self.markets[order.market]
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
            self._touch_balance(user.user_id, asset)
        pending = Pending("amend", peer, rid, user.user_id, order.order_id)
        command = Amend(order.order_id, user.user_id, request.qty, request.price)
        self._to_engine(order.market, command, pending, out)
        return None

    def _get_order(self, user: User, request: GetOrder) -> AccountsReply:
        order_id = request.order_id
        if order_id is None and request.client_order_id is not None:
            order_id = user.client_ids.get(request.client_order_id)
        order = user.orders.get(order_id) if order_id is not None else None
        if order is None:
            return ErrorReply(404, "ORDER_NOT_FOUND", "no such order")
        return OrderReply(order.view())

    def _list_orders(self, user: User, request: ListOrders) -> AccountsReply:
        ids = user.open_orders if request.open_only else user.orders
        limit = max(1, min(request.limit, MAX_LIST))
        views = []
        for order_id in sorted(ids, reverse=True):
            order = user.orders[order_id]
            if request.market is None or order.market == request.market:
                views.append(order.view())
                if len(views) == limit:
                    break
        return OrdersReply(views)

    def _list_fills(self, user: User, request: ListFills) -> AccountsReply:
        limit = max(1, min(request.limit, MAX_LIST))
        fills = [
            fill
            for fill in reversed(user.fills)
            if request.market is None or fill.market == request.market
        ]
        return FillsReply(fills[:limit])

    def _to_engine(
        self,
        market: str,
        command: Place | Cancel | CancelAll | Amend,
        pending: Pending,
        out: LedgerOutput,
    ) -> None:
        self.commands += 1
        shard = self.shard
        request = self.links[market].send(lambda seq: EngineRequest(shard, seq, command))
        self.pending[(market, request.seq)] = pending
        out.engine.append((market, request))

    # --- engine reports ---------------------------------------------------------------------

    def handle_report(self, report: Report, out: LedgerOutput) -> None:
        market = self.markets.get(report.market)
        if market is None:
            log.error("report from an unknown market", extra={"fields": {"market": report.market}})
            return
        link = self.links[market.name]
        expected = link.received + 1
        verdict = link.accept(report.seq)
        if verdict != "accept":
            if verdict == "gap":
                log.error(
                    "report past a gap",
                    extra={
                        "fields": {"market": market.name, "seq": report.seq, "expected": expected}
                    },
                )
            return
        pending = None
        if report.request_seq:
            link.ack(report.request_seq)  # the engine applies requests in order
            pending = self.pending.pop((market.name, report.request_seq), None)
        for event in report.events:
            self._settle(market, report.time, event, pending)
        if pending is not None:
            self._resolve(pending, out)
        self.flush_events(out)

    def _settle(self, market: Market, now: int, event: object, pending: Pending | None) -> None:
        match event:
            case Trade():
                if shard_of_user(event.taker_user_id) == self.shard:
                    self._fill(market, now, event, event.taker_order_id, "taker")
                if shard_of_user(event.maker_user_id) == self.shard:
                    self._fill(market, now, event, event.maker_order_id, "maker")
            case Done():
                order = self.open_orders.get(event.order_id)
                if order is not None:
                    self._close(market, order, event.status, now)
                    if pending is not None and pending.kind == "cancel_all":
                        pending.orders.append(order.order_id)
            case Amended():
                order = self.open_orders.get(event.order_id)
                if order is not None:
                    order.price = event.price
                    order.qty = event.qty
                    order.pending_amend = None
                    order.updated_at = now
                    self._release_excess(market, order)
            case Rejected():
                self._rejected(market, now, event, pending)
            case Accepted():
                order = self.open_orders.get(event.order_id)
                if order is not None:
                    self._dirty_orders[order.order_id] = order  # pushed: the order now rests

    def _rejected(self, market: Market, now: int, event: Rejected, pending: Pending | None) -> None:
        status, message = _ENGINE_REJECTIONS.get(event.reason, (422, event.reason))
        if pending is not None:
            pending.error = ErrorReply(status, event.reason, message)
        order = self.open_orders.get(event.order_id)
        if order is None:
            return
        if pending is not None and pending.kind == "amend":
            order.pending_amend = None
            self._release_excess(market, order)
        elif pending is not None and pending.kind == "place":
            self._close(market, order, "rejected", now)

    def _fill(self, market: Market, now: int, trade: Trade, order_id: int, liquidity: str) -> None:
        order = self.open_orders.get(order_id)
        if order is None:
            log.error("fill for an unknown order", extra={"fields": {"order_id": order_id}})
            return
        user = self.users[order.user_id]
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
            self.traded_out[market.quote] += notional
            self.traded_in[market.base] += trade.qty
        else:
            base.locked -= trade.qty
            order.locked -= trade.qty
            quote.free += notional - fee
            self.traded_out[market.base] += trade.qty
            self.traded_in[market.quote] += notional
        self.fees[market.quote] += fee
        fill = FillView(
            trade.trade_id,
            order.order_id,
            market.name,
            order.side,
            trade.price,
            trade.qty,
            fee,
            market.quote,
            "maker" if liquidity == "maker" else "taker",
            now,
        )
        order.fills.append(fill)
        user.fills.append(fill)
        if len(user.fills) > 2 * KEEP_FILLS:
            del user.fills[:KEEP_FILLS]
        self._new_fills.append((user.user_id, fill))
        self._touch_balance(user.user_id, market.base)
        self._touch_balance(user.user_id, market.quote)
        self._release_excess(market, order)

    def _close(
        self, market: Market, order: Order, status: DoneStatus | Literal["rejected"], now: int
    ) -> None:
        order.status = status
        order.updated_at = now
        order.pending_amend = None
        self._release_excess(market, order)
        del self.open_orders[order.order_id]
        user = self.users[order.user_id]
        user.open_orders.pop(order.order_id, None)
        self._forget_old_orders(user)

    def _release_excess(self, market: Market, order: Order) -> None:
        excess = order.locked - required_lock(order, market)
        if excess == 0:
            self._dirty_orders[order.order_id] = order
            return
        if excess < 0:
            log.error(
                "an order holds less than it needs",
                extra={"fields": {"order_id": order.order_id, "short": -excess}},
            )
            return
        asset = spends(order, market)
        balance = self.users[order.user_id].balance(asset)
        balance.locked -= excess
        balance.free += excess
        order.locked -= excess
        self._dirty_orders[order.order_id] = order
        self._touch_balance(order.user_id, asset)

    def _forget_old_orders(self, user: User) -> None:
        closed = len(user.orders) - len(user.open_orders)
        if closed <= 2 * KEEP_CLOSED_ORDERS:
            return
        for order_id in sorted(user.orders):
            if closed <= KEEP_CLOSED_ORDERS:
                break
            order = user.orders[order_id]
            if order.is_open:
                continue
            del user.orders[order_id]
            if order.client_order_id is not None:
                user.client_ids.pop(order.client_order_id, None)
            closed -= 1

    def _resolve(self, pending: Pending, out: LedgerOutput) -> None:
        if pending.kind == "cancel_all":
            pending.waiting -= 1
            if pending.waiting:
                return
            user = self.users[pending.user_id]
            views = [user.orders[i].view() for i in sorted(pending.orders) if i in user.orders]
            out.settled.append((pending.peer, pending.rid, OrdersReply(views)))
            return
        reply: AccountsReply
        order = self.users[pending.user_id].orders.get(pending.order_id)
        if order is None:
            reply = pending.error or ErrorReply(404, "ORDER_NOT_FOUND", "no such order")
        elif pending.error is None:
            reply = OrderReply(order.view())
        elif pending.error.code == "ORDER_NOT_FOUND" and not order.is_open:
            # the order filled (or expired) while the cancel or amend was on its way
            reply = ErrorReply(422, "ORDER_CLOSED", f"the order is already {order.status}")
        else:
            reply = pending.error
        out.settled.append((pending.peer, pending.rid, reply))

    # --- private events ---------------------------------------------------------------------

    def _touch_balance(self, user_id: int, asset: str) -> None:
        self._dirty_balances.add((user_id, asset))

    def flush_events(self, out: LedgerOutput) -> None:
        if not self.anyone_listening():
            self._new_fills.clear()
            self._dirty_orders.clear()
            self._dirty_balances.clear()
            return
        listening = self.listening
        for user_id, fill in self._new_fills:
            topic = f"fills.{user_id}".encode()
            if listening(topic):
                out.events.append((topic, FillEvent(user_id, fill)))
        for order in self._dirty_orders.values():
            topic = f"orders.{order.user_id}".encode()
            if listening(topic):
                out.events.append((topic, OrderEvent(order.user_id, order.view())))
        for user_id, asset in sorted(self._dirty_balances):
            topic = f"balances.{user_id}".encode()
            if listening(topic):
                balance = self.users[user_id].balance(asset)
                out.events.append((topic, BalanceEvent(user_id, _balance_view(asset, balance))))
        self._new_fills.clear()
        self._dirty_orders.clear()
        self._dirty_balances.clear()

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> LedgerSnapshot:
        """The whole durable state; requests waiting for a reply are not part of it."""
        return LedgerSnapshot(
            self.shard,
            self.next_user,
            self.next_order,
            list(self.users.values()),
            self.fees,
            self.deposits,
            self.withdrawals,
            self.traded_in,
            self.traded_out,
            {market: link.state() for market, link in self.links.items()},
            self.commands,
        )

    def snapshot_bytes(self) -> bytes:
        return _snapshot_encoder.encode(self.snapshot())

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot_bytes()).hexdigest()

    @classmethod
    def restore(cls, config: Config, data: bytes) -> Ledger:
        snap = msgspec.msgpack.decode(data, type=LedgerSnapshot)
        ledger = cls(config, snap.shard)
        ledger.next_user = snap.next_user
        ledger.next_order = snap.next_order
        ledger.users = {user.user_id: user for user in snap.users}
        ledger.open_orders = {
            order_id: user.orders[order_id] for user in snap.users for order_id in user.open_orders
        }
        ledger.fees = dict(snap.fees)
        ledger.deposits = dict(snap.deposits)
        ledger.withdrawals = dict(snap.withdrawals)
        ledger.traded_in = dict(snap.traded_in)
        ledger.traded_out = dict(snap.traded_out)
        ledger.links = {market: Link(snap.links.get(market)) for market in config.markets}
        ledger.commands = snap.commands
        return ledger

    # --- operators --------------------------------------------------------------------------

    def totals(self) -> TotalsReply:
        assets = []
        for asset in self.assets:
            free = locked = 0
            for user in self.users.values():
                balance = user.balances.get(asset)
                if balance is not None:
                    free += balance.free
                    locked += balance.locked
            assets.append(
                AssetTotals(
                    asset,
                    free,
                    locked,
                    self.fees[asset],
                    self.deposits[asset],
                    self.withdrawals[asset],
                    self.traded_in[asset],
                    self.traded_out[asset],
                )
            )
        return TotalsReply(self.shard, len(self.users), len(self.open_orders), assets)

    def status(self) -> ShardStatus:
        return ShardStatus(
            self.shard,
            len(self.users),
            len(self.open_orders),
            self.commands,
            {market: link.received for market, link in self.links.items()},
            {market: link.sent for market, link in self.links.items()},
            len(self.pending),
        )


_NOTHING = Balance()  # read only: what a user holds of an asset never credited


def _everyone(topic: bytes) -> bool:
    return True


def _always() -> bool:
    return True


def _balance_view(asset: str, balance: Balance) -> BalanceView:
    return BalanceView(asset, balance.free, balance.locked)
