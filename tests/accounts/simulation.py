"""Ledgers and engines wired together in one process, messages delivered in FIFO order.

The same state machines the actors run, without sockets: a command stream gives the same
result as through real processes, fast enough for hypothesis to explore.  Time is the
simulation's clock: each request moves it by a millisecond, :meth:`Simulation.advance`
by as much as asked, and ticks engines (expiries) and ledgers (dead man's switches) the
way their actors do when something is due.  Every input of every ledger is kept in
``journals``, in the order applied, as the actor would journal it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from actors.accounts.ledger import Ledger
from actors.accounts.protocol import AccountsReply, AccountsRequest, Auth, CreateUser
from actors.accounts.shard import LedgerOutput
from actors.accounts.state import required_lock, spends
from actors.engine.engine import MatchingEngine
from actors.engine.messages import Event, LevelChanged, Tick, Trade
from actors.engine.protocol import EngineRequest, PrivateEvent, Report
from actors.link import Link
from bourse.config import Config
from bourse.ids import shard_of_user

KEY = b"k" * 32


class Simulation:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.ledgers = [Ledger(config, shard) for shard in range(len(config.shards))]
        self.engines = {
            name: MatchingEngine(name, m.tick, m.lot, m.base_scale)
            for name, m in config.markets.items()
        }
        # Per (market, shard), the engine's end of the link, as the engine actor keeps it.
        self.links: dict[tuple[str, int], Link[Report]] = {
            (market, shard): Link()
            for market in config.markets
            for shard in range(len(self.ledgers))
        }
        self.now = 1_000
        self._queue: deque[tuple[str, Any]] = deque()
        self.replies: list[AccountsReply] = []
        self.trades: list[tuple[str, Trade]] = []
        # Per shard: ("request", now, request), ("report", report) or ("tick", now).
        self.journals: list[list[tuple[Any, ...]]] = [[] for _ in self.ledgers]

    def create_user(self, shard: int) -> Auth:
        reply = self.request(shard, CreateUser(KEY))
        return Auth(reply.user_id, KEY)  # type: ignore[union-attr]

    def request(self, shard: int, request: AccountsRequest) -> AccountsReply:
        """Send one request and deliver every message it causes; return its reply."""
        self.now += 1
        self._tick()
        out = LedgerOutput()
        self.journals[shard].append(("request", self.now, request))
        self.ledgers[shard].handle_request(self.now, b"client", len(self.replies), request, out)
        replies = self._deliver(shard, out)
        assert len(replies) == 1, replies
        self.replies.append(replies[0])
        return replies[0]

    def advance(self, ms: int) -> None:
        """Let ``ms`` pass, and tick whatever is due by then."""
        self.now += ms
        self._tick()

    def _tick(self) -> None:
        """What the actors do at the start of a turn: an engine with an expiry due applies
        a Tick, a ledger with a switch due handles a tick (neither answers anyone)."""
        for market, engine in self.engines.items():
            due = engine.next_expiry()
            if due is not None and due <= self.now:
                self._route(market, engine.apply(Tick(), self.now), None, 0)
        for shard, ledger in enumerate(self.ledgers):
            due = ledger.next_tick()
            if due is not None and due <= self.now:
                out = LedgerOutput()
                self.journals[shard].append(("tick", self.now))
                ledger.handle_tick(self.now, out)
                assert self._deliver(shard, out) == [], "a tick answers no one"
        if self._queue:
            assert self._deliver(-1, LedgerOutput()) == [], "expiries answer no one"

    def _deliver(self, shard: int, first: LedgerOutput) -> list[AccountsReply]:
        replies = [reply for _, _, reply in first.replies + first.settled]
        self._queue.extend(("engine", item) for item in first.engine)
        while self._queue:
            kind, item = self._queue.popleft()
            if kind == "engine":
                market, request = item
                self._engine(market, request)
            else:
                target, report = item
                out = LedgerOutput()
                self.journals[target].append(("report", report))
                self.ledgers[target].handle_report(report, out)
                replies.extend(reply for _, _, reply in out.settled + out.replies)
                self._queue.extend(("engine", x) for x in out.engine)
        return replies

    def _engine(self, market: str, request: EngineRequest) -> None:
        assert self.links[(market, request.shard)].accept(request.seq) == "accept", request
        events: list[Event] = self.engines[market].apply(request.command, self.now)
        self._route(market, events, request.shard, request.seq)

    def _route(
        self, market: str, events: list[Event], origin: int | None, request_seq: int
    ) -> None:
        """One report per shard concerned, as the engine actor sends them."""
        by_shard: dict[int, list[PrivateEvent]] = {} if origin is None else {origin: []}
        for event in events:
            if isinstance(event, LevelChanged):
                continue
            if isinstance(event, Trade):
                self.trades.append((market, event))
                shards = {shard_of_user(event.taker_user_id), shard_of_user(event.maker_user_id)}
                for shard in sorted(shards):
                    by_shard.setdefault(shard, []).append(event)
                continue
            by_shard.setdefault(shard_of_user(event.user_id), []).append(event)
        for shard, shard_events in by_shard.items():
            seq = request_seq if shard == origin else 0
            report = _report(self.links[(market, shard)], market, seq, self.now, shard_events)
            self._queue.append(("report", (shard, report)))


def _report(
    link: Link[Report], market: str, request_seq: int, now: int, events: list[PrivateEvent]
) -> Report:
    return link.send(lambda seq: Report(market, seq, request_seq, now, events))


def check_invariants(sim: Simulation) -> None:
    """the money invariants of docs/architecture.md over every shard and engine."""
    config = sim.config
    for asset in config.assets:
        held = fees = deposits = withdrawals = traded_in = traded_out = 0
        for ledger in sim.ledgers:
            for user in ledger.state.users.values():
                balance = user.balances.get(asset)
                if balance is not None:
                    assert balance.free >= 0 and balance.locked >= 0, (asset, user.user_id)
                    held += balance.free + balance.locked
            fees += ledger.state.fees[asset]
            deposits += ledger.state.deposits[asset]
            withdrawals += ledger.state.withdrawals[asset]
            traded_in += ledger.state.traded_in[asset]
            traded_out += ledger.state.traded_out[asset]
        assert traded_in == traded_out, asset
        assert held + fees == deposits - withdrawals, asset
    for ledger in sim.ledgers:
        locked: dict[tuple[int, str], int] = {}
        for order in ledger.state.open_orders.values():
            market = config.markets[order.market]
            assert order.locked >= required_lock(order, market), order
            key = (order.user_id, spends(order, market))
            locked[key] = locked.get(key, 0) + order.locked
        for user in ledger.state.users.values():
            for order in user.orders.values():
                # memory holds open orders only: a closed one is in the history store
                assert order.is_open, f"a closed order is still in memory: {order}"
            for oco in user.lists.values():
                ids = (oco.limit_id, oco.stop_id)
                legs = [user.orders[leg] for leg in ids if leg in user.orders]
                assert legs, f"a list over (both legs closed) is still in memory: {oco}"
                if oco.status == "open":
                    assert len(legs) == 2, oco
                    assert all(leg.is_open and leg.pooled and leg.locked == 0 for leg in legs)
                    rules = config.markets[oco.market]
                    asset = rules.quote if oco.side == "buy" else rules.base
                    key = (user.user_id, asset)
                    locked[key] = locked.get(key, 0) + oco.locked
                else:
                    assert oco.locked == 0, f"a done list holds funds: {oco}"
                    assert not any(leg.pooled for leg in legs), oco
            for asset, balance in user.balances.items():
                assert balance.locked == locked.get((user.user_id, asset), 0), (user.user_id, asset)
    for shard, ledger in enumerate(sim.ledgers):
        for market, link in ledger.state.links.items():
            engine_end = sim.links[(market, shard)]
            assert link.unacked == 0, "every request was answered"
            assert (link.sent, link.received) == (engine_end.received, engine_end.sent), market
    for name, engine in sim.engines.items():
        bid, ask = engine.best_bid(), engine.best_ask()
        assert bid is None or ask is None or bid < ask, name
        resting = set(engine.orders) | set(engine.stops.orders)
        believed = {
            order_id
            for ledger in sim.ledgers
            for order_id, order in ledger.state.open_orders.items()
            if order.market == name
        }
        assert resting == believed, name
