"""One accounts shard as a pure state machine: requests and engine reports in, replies,
engine requests and private events out.  No clock (the caller passes ``now``), no
randomness (API-key secrets are drawn by the gateway), no I/O.

The work is done by parts that share one :class:`ShardState` (actors/accounts/shard.py,
which states the conservation equation):

- ``users.py``: sign-up, deposits, withdrawals;
- ``keys.py``: API keys, their scopes and addresses, checked on every request;
- ``orders.py``: place, cancel, cancel-all, amend, OCO lists and batches: checked
  (``rules.py``), funds locked, sent to the engine;
- ``switch.py``: the dead man's switch, armed by requests and fired by ticks;
- ``settlement.py``: engine reports: fills, fees, releases, closes, and the replies
  they complete;
- ``reads.py``: balances, orders, fills (open ones from memory, the rest from the
  history store), totals, status;
- ``events.py``: the private events each message's changes publish.

Invariants (tests/accounts check them after long random runs):
- A private request is authenticated first (its key, then the key's address and scope)
  and then sees only that user's orders and funds: an order of another user is "not
  found", exactly like one that does not exist.
- Only sign-ups, deposits, withdrawals, order requests, key changes, engine reports and
  ticks change the state; reads change nothing (see reads.py).  A tick
  (:meth:`Ledger.handle_tick`) is the passing of time alone: the actor makes one, and
  journals it, when :meth:`Ledger.next_tick` is due.
- The snapshot is the whole durable state: restoring it, or replaying the same inputs
  from an earlier one, reaches the same bytes.
"""

from __future__ import annotations

import hashlib

import msgspec

from actors.accounts import reads
from actors.accounts.history import HistoryStore
from actors.accounts.keys import Keys
from actors.accounts.orders import Orders
from actors.accounts.protocol import (
    AccountsReply,
    AccountsRequest,
    AmendOrder,
    Authenticate,
    CancelAfter,
    CancelBatch,
    CancelOrder,
    CancelOrderList,
    CancelOrders,
    CreateKey,
    CreateUser,
    Deposit,
    ErrorReply,
    GetBalances,
    GetOrder,
    GetOrderList,
    GetStatus,
    GetTotals,
    ListFills,
    ListKeys,
    ListOrders,
    PlaceBatch,
    PlaceOrder,
    PlaceOrderList,
    RevokeKey,
    Withdraw,
)
from actors.accounts.settlement import Settlement
from actors.accounts.shard import LedgerOutput, ShardSnapshot, ShardState
from actors.accounts.switch import Switches
from actors.accounts.users import Users
from actors.engine.protocol import Report
from bourse.config import Config

_snapshot_encoder = msgspec.msgpack.Encoder()


class Ledger:
    def __init__(
        self,
        config: Config,
        shard: int,
        state: ShardState | None = None,
        history: HistoryStore | None = None,
    ) -> None:
        """A new shard's ledger, or one around ``state`` restored from a snapshot; its
        history in ``history`` (default: in memory)."""
        self.state = state if state is not None else ShardState(config, shard, history)
        self.changes = self.state.changes
        self.users = Users(self.state)
        self.keys = Keys(self.state)
        self.orders = Orders(self.state)
        self.settlement = Settlement(self.state)
        self.switches = Switches(self.state, self.orders)

    @property
    def shard(self) -> int:
        return self.state.shard

    def handle_request(
        self, now: int, peer: bytes, rid: int, request: AccountsRequest, out: LedgerOutput
    ) -> None:
        self.orders.deadline = getattr(request, "deadline", 0)
        reply = self._dispatch(now, peer, rid, request, out)
        if reply is not None:
            out.replies.append((peer, rid, reply))
        self.changes.publish(self.state.users, out.events)
        self.state.closed.clear()

    def handle_report(self, report: Report, out: LedgerOutput) -> None:
        self.settlement.apply(report, out)
        self.changes.publish(self.state.users, out.events)
        self.state.closed.clear()

    def next_tick(self) -> int | None:
        """When time alone next changes something (a dead man's switch fires), or None."""
        return self.switches.next_due()

    def handle_tick(self, now: int, out: LedgerOutput) -> None:
        self.switches.fire(now, out)
        self.changes.publish(self.state.users, out.events)
        self.state.closed.clear()

    def _dispatch(
        self, now: int, peer: bytes, rid: int, request: AccountsRequest, out: LedgerOutput
    ) -> AccountsReply | None:
        """The reply now, or None when an engine's report will complete it."""
        match request:
            case CreateUser():
                return self.users.create(now, request)
            case GetStatus():
                return reads.status(self.state)
            case GetTotals() if request.auth.admin:
                # Totals concern no user: a shard with no users (or not this one) answers too.
                return reads.totals(self.state)
        found = self.keys.authenticate(request.auth)
        if found is None:
            return ErrorReply(401, "UNAUTHENTICATED", "missing or wrong API key")
        user, key = found
        refusal = self.keys.refusal(key, request.auth, request)
        if refusal is not None:
            return refusal
        match request:
            case Authenticate():
                return self.keys.authenticated(user, key)
            case Deposit():
                return self.users.deposit(user, request)
            case Withdraw():
                return self.users.withdraw(user, request)
            case GetBalances():
                return reads.balances(self.state, user)
            case PlaceOrder():
                return self.orders.place(now, peer, rid, user, request, out)
            case CancelOrder():
                return self.orders.cancel(peer, rid, user, request, out)
            case CancelOrders():
                return self.orders.cancel_all(peer, rid, user, request, out)
            case AmendOrder():
                return self.orders.amend(peer, rid, user, request, out)
            case PlaceBatch():
                return self.orders.place_batch(now, peer, rid, user, request, out)
            case CancelBatch():
                return self.orders.cancel_batch(peer, rid, user, request, out)
            case PlaceOrderList():
                return self.orders.place_list(now, peer, rid, user, request, out)
            case CancelOrderList():
                return self.orders.cancel_list(peer, rid, user, request, out)
            case GetOrderList():
                return reads.order_list(self.state, user, request)
            case CancelAfter():
                return self.switches.arm(now, user, request)
            case GetOrder():
                return reads.order(self.state, user, request)
            case ListOrders():
                return reads.orders(self.state, user, request)
            case ListFills():
                return reads.fills(self.state, user, request)
            case CreateKey():
                return self.keys.create(now, user, request)
            case ListKeys():
                return self.keys.list(user, request)
            case RevokeKey():
                return self.keys.revoke(user, request)
            case GetTotals():  # the admin's were answered above
                return ErrorReply(403, "FORBIDDEN", "totals need the admin key")
        return None

    # --- snapshots ------------------------------------------------------------------------

    def snapshot_bytes(self) -> bytes:
        """The whole durable state; requests waiting for a reply are not part of it."""
        return _snapshot_encoder.encode(self.state.snapshot())

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot_bytes()).hexdigest()

    @classmethod
    def restore(cls, config: Config, data: bytes, history: HistoryStore | None = None) -> Ledger:
        snap = msgspec.msgpack.decode(data, type=ShardSnapshot)
        return cls(config, snap.shard, ShardState.restore(config, snap, history))
