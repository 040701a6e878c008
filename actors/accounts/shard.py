"""Everything one accounts shard holds, shared by the ledger's parts (users, orders,
settlement, reads), and what handling one message produces.

Invariants:
- Per asset, over this shard: the sum of users' free + locked, plus ``fees``, equals
  ``deposits - withdrawals + traded_in - traded_out``.  Summed over every shard, once
  every report is settled, traded_in equals traded_out, so free + locked + fees =
  deposits - withdrawals.
- ``open_orders`` indexes exactly the users' open orders (``User.open_orders``).
- The durable state is what :class:`ShardSnapshot` holds; ``pending`` (requests waiting
  for an engine's answer) and ``changes`` (events not yet published) are not part of it:
  a restarted shard answers nobody it had not answered, and publishes nothing again.
  ``switches`` indexes the users' armed dead man's switches (``User.cancel_at``): it is
  rebuilt from them, so it is not part of it either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from actors.accounts.events import Changes
from actors.accounts.protocol import AccountsReply, ErrorReply, PrivateEvent
from actors.accounts.state import Order, User
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


class ShardState:
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
        self.commands = 0  # engine requests made
        # Not durable: see the module's invariants.
        self.pending: dict[tuple[str, int], Pending] = {}  # by (market, request number)
        self.changes = Changes()
        self.switches = ExpiryIndex()  # (cancel_at, user_id) of every armed switch

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
        )

    @classmethod
    def restore(cls, config: Config, snap: ShardSnapshot) -> ShardState:
        state = cls(config, snap.shard)
        state.next_user = snap.next_user
        state.next_order = snap.next_order
        state.users = {user.user_id: user for user in snap.users}
        for user in snap.users:
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
        return state
