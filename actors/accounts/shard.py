"""Everything one accounts shard holds, shared by the ledger's parts (users, orders,
settlement, reads), and what handling one message produces.

Invariants:
- Per asset, over this shard: the sum of users' free + locked, plus ``fees``, equals
  ``deposits - withdrawals + traded_in - traded_out``.  Summed over every shard, once
  every report is settled, traded_in equals traded_out, so free + locked + fees =
  deposits - withdrawals.
- ``open_orders`` indexes exactly the users' open orders (``User.open_orders``); a
  closed order and every fill are archived in ``history`` (actors/accounts/history.py),
  counted in ``archived`` rows of ``archived_bytes``.
- The durable state is what :class:`ShardSnapshot` holds (with the archive's prefix it
  counts); ``pending`` (requests waiting for an engine's answer), ``changes`` (events not
  yet published) and ``closed`` (orders the current message closed) are not part of it:
  a restarted shard answers nobody it had not answered, and publishes nothing again.
  ``switches`` indexes the users' armed dead man's switches (``User.cancel_at``): it is
  rebuilt from them, so it is not part of it either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from actors.accounts.events import Changes
from actors.accounts.history import Archived, HistoryStore, encode_row
from actors.accounts.protocol import (
    AccountsReply,
    ErrorReply,
    OrderListView,
    OrderView,
    PrivateEvent,
)
from actors.accounts.state import Order, OrderList, User
from actors.accounts.store import SqliteHistory
from actors.engine.expiry import ExpiryIndex
from actors.engine.protocol import EngineRequest
from actors.link import Link, LinkState
from bourse.config import Config
from bourse.market import Market

PendingKind = Literal["place", "cancel", "cancel_all", "amend", "place_list", "cancel_list"]


@dataclass(slots=True)
class Batch:
    """A batch request: one answer per item, sent once the last one is known."""

    peer: bytes
    rid: int
    results: list[AccountsReply | None]
    waiting: int = 0  # items still waiting for an engine report


@dataclass(slots=True)
class Pending:
    """A client's request waiting for one or more engine reports.  ``order_id`` names
    the order, or the list of a ``place_list`` / ``cancel_list``; an item of a batch
    answers into ``batch.results[slot]`` instead of to ``peer``."""

    kind: PendingKind
    peer: bytes
    rid: int
    user_id: int
    order_id: int = 0
    waiting: int = 1  # reports still to come (a cancel-all waits for each market)
    orders: list[int] = field(default_factory=list)  # a cancel-all's closed orders
    error: ErrorReply | None = None
    batch: Batch | None = None
    slot: int = 0


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
    # Markets whose engine sent a report past a gap: the ones before it were lost.
    gaps: set[str] = field(default_factory=set)


class ShardSnapshot(msgspec.Struct, frozen=True):
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
    next_fill: int = 1
    revocations: int = 0
    archived: int = 0
    archived_bytes: int = 0


class ShardState:
    def __init__(self, config: Config, shard: int, history: HistoryStore | None = None) -> None:
        # In memory unless the actor gives it the instance's store on disk.
        self.history: HistoryStore = SqliteHistory() if history is None else history
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
        self.commands = 0  # engine requests made
        self.next_fill = 1
        self.revocations = 0  # keys revoked, ever
        self.archived = 0  # rows archived, ever
        self.archived_bytes = 0  # their encodings' bytes
        # Not durable: see the module's invariants.
        self.pending: dict[tuple[str, int], Pending] = {}  # by (market, request number)
        self.changes = Changes(keys_topic(shard))
        self.closed: dict[int, Order] = {}
        self.switches = ExpiryIndex()  # (cancel_at, user_id) of every armed switch

    def archive(self, row: Archived) -> None:
        body = encode_row(row)
        self.archived += 1
        self.archived_bytes += len(body)
        self.history.add(row, body)

    def find_order(self, user: User, order_id: int) -> Order | None:
        """An order of ``user`` that is open, or was closed by the current message."""
        order = user.orders.get(order_id)
        if order is None:
            order = self.closed.get(order_id)
            if order is not None and order.user_id != user.user_id:
                return None
        return order

    def order_view(self, user: User, order_id: int) -> OrderView | None:
        """One of ``user``'s orders as it stands: open, just closed, or in the history."""
        order = self.find_order(user, order_id)
        if order is not None:
            return order.view()
        return self.history.order(user.user_id, order_id)

    def list_view(self, user: User, oco: OrderList) -> OrderListView:
        return oco.view(lambda leg: self.order_view(user, leg))

    def snapshot(self) -> ShardSnapshot:
        return ShardSnapshot(
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
            self.next_fill,
            self.revocations,
            self.archived,
            self.archived_bytes,
        )

    @classmethod
    def restore(
        cls, config: Config, snap: ShardSnapshot, history: HistoryStore | None = None
    ) -> ShardState:
        state = cls(config, snap.shard, history)
        state.next_user = snap.next_user
        state.next_order = snap.next_order
        state.users = {user.user_id: user for user in snap.users}
        for user in snap.users:
            _from_older_snapshot(user)
            if user.cancel_at:
                state.switches.add(user.cancel_at, user.user_id)
        state.open_orders = {
            order_id: user.orders[order_id] for user in snap.users for order_id in user.open_orders
        }
        state.fees = dict(snap.fees)
        state.deposits = dict(snap.deposits)
        state.withdrawals = dict(snap.withdrawals)
        state.traded_in = dict(snap.traded_in)
        state.traded_out = dict(snap.traded_out)
        state.links = {market: Link(snap.links.get(market)) for market in config.markets}
        state.commands = snap.commands
        state.next_fill = snap.next_fill
        state.revocations = snap.revocations
        state.archived = snap.archived
        state.archived_bytes = snap.archived_bytes
        return state


def keys_topic(shard: int) -> bytes:
    """Where a shard publishes its key revocations (``KeyRevoked``, ``KeysHeard``)."""
    return f"keys.{shard}".encode()


def _from_older_snapshot(user: User) -> None:
    """A snapshot from before the history store kept a user's last closed orders and
    fills in memory: they are let go (their client ids stay refused), and the sign-up
    key becomes key 1."""
    user.adopt_sign_up_key()
    if user.fills:
        user.fills = []
    if len(user.orders) == len(user.open_orders):
        return
    for order_id in [i for i in user.orders if i not in user.open_orders]:
        order = user.orders.pop(order_id)
        if order.client_order_id is not None:
            user.client_ids.pop(order.client_order_id, None)
            user.closed_client_ids[order.client_order_id] = None
    for list_id, oco in list(user.lists.items()):
        if oco.limit_id not in user.orders and oco.stop_id not in user.orders:
            del user.lists[list_id]
