"""The engine actor: one market's MatchingEngine behind a ROUTER and a PUB socket.

Invariants:
- Who may send what (the sender is the process its CURVE handshake proved, never a byte
  of the message): an :class:`EngineRequest` or a :class:`Sync` only accounts shard k,
  about shard k, from the ROUTER identity ``accounts-<k>``; an :class:`AdminRequest`
  only the gateway (which checked the operator's admin key); depth and status queries
  any process the ROUTER admits (shards, gateway, feed, operator).  Anything else is
  refused with FORBIDDEN, counted and logged, and never applied or journaled.
- Each shard's requests are applied once and in order of their sequence numbers; a
  repeat is ignored, a request past a gap is refused until the missing ones arrive.
- Every request's outcome goes back to the shard that sent it, even when empty, and every
  event about a user goes to that user's shard, numbered per shard.
- Every report stays retained until its shard says (Sync) it applied it; retained
  reports are part of the snapshot, so a restart loses none.  A Sync gets back the
  reports the shard has not applied that were already retained at its previous Sync: a
  report younger than one Sync period is likely still on its way, and resending it
  would only make a busy shard decode it twice.
- Each turn publishes at most one MarketEvents message on ``book.<market>`` (and the
  trades again on ``trade.<market>``), so the market's sequence numbers reach subscribers
  contiguous and in order.
- The engine sees time only as the turn's stamped time, given with each command.  When
  an expiry is due at the start of a turn (a busy one, or an idle one: the runtime calls
  ``on_idle`` every 100 ms), the actor applies a :class:`Tick` first and journals it as
  a message of its own ``clock`` socket, so a replay expires the same orders at the same
  times and a GTD order expires within a turn (at most ~100 ms) of its time.  Reports a
  tick produces go to the shards concerned with ``request_seq`` 0.
"""

from __future__ import annotations

import hashlib
import logging

import msgspec

from actors.durable import DurableActor
from actors.engine.engine import EngineSnapshot, MatchingEngine
from actors.engine.messages import (
    Accepted,
    Amend,
    Amended,
    Cancel,
    CancelAll,
    CancelList,
    Done,
    Event,
    LevelChanged,
    Place,
    PlaceList,
    Rejected,
    Tick,
    Trade,
    Triggered,
)
from actors.engine.protocol import (
    Ack,
    AdminRequest,
    DepthQuery,
    DepthReply,
    EngineInbound,
    EngineRequest,
    EngineStatus,
    ErrorReply,
    MarketEvents,
    PrivateEvent,
    PublicTrade,
    Report,
    StatusQuery,
    Sync,
    book_topic,
    shard_identity,
    trade_topic,
)
from actors.link import Link, LinkState
from actors.pair import Pair, pair_of
from bourse.config import Config
from bourse.ids import USER_SHIFT
from bourse.metrics import ActorMetrics
from bourse.peers import ENGINE_PUB, ENGINE_REPL, ENGINE_ROUTER, GATEWAY, is_sender, shard_name
from transport.runtime import Inbound, Outbox, Runtime

log = logging.getLogger("engine")

ROUTER = "router"
# Subscribers hold a handful of topics each (book.<market>, trade.<market>).
MAX_SUBSCRIPTIONS = 4096
CLOCK = "clock"  # the socket name of the ticks the actor journals; no real socket has it
_NO_ORIGIN = -1  # no shard asked: no report is owed to anyone in particular


class EngineActorState(msgspec.Struct, frozen=True):
    engine: EngineSnapshot
    links: dict[int, LinkState[Report]]
    commands: int


class EngineActor(DurableActor):
    def __init__(self, config: Config, market: str, instance: int = 0) -> None:
        self.config = config
        self.max_skew_ms = config.exchange.max_clock_skew_ms
        self.process = config.engines[market]
        self.instance = self.process.instances[instance]
        self.name = self.instance.name
        self.metrics_endpoint = self.instance.metrics
        rules = config.markets[market]
        self.engine = MatchingEngine(market, rules.tick, rules.lot, rules.base_scale)
        self.shard_count = len(config.shards)
        self._identities = [shard_identity(shard) for shard in range(self.shard_count)]
        # Per shard: its requests in, this engine's reports out.
        self.links: dict[int, Link[Report]] = {shard: Link() for shard in range(self.shard_count)}
        self.commands = 0
        self._decoder = msgspec.msgpack.Decoder(EngineInbound)
        self._encoder = msgspec.msgpack.Encoder()
        self._public: list[LevelChanged | PublicTrade] = []
        # Replay rebuilds state only: nothing is published or encoded for sending.
        self._replaying = False
        self._tick = Inbound(CLOCK, b"", 0, self._encoder.encode(Tick()))

    def make_pair(self) -> Pair | None:
        return pair_of(self, self.process.instances, self.instance, ENGINE_REPL)

    def serve(self, runtime: Runtime) -> None:
        runtime.bind_router(ROUTER, ENGINE_ROUTER, *self.instance.router.binds)
        market = self.engine.market
        runtime.bind_pub(
            ENGINE_PUB,
            *self.instance.pub.binds,
            max_topic=max(len(book_topic(market)), len(trade_topic(market))),
            max_subscriptions=MAX_SUBSCRIPTIONS,
        )
        log.info("engine ready", extra={"fields": {"market": self.engine.market}})

    def on_quiet(self, now: int, out: Outbox) -> None:
        self._tick_if_due(now, out)
        self._publish(now, out)

    def _tick_if_due(self, now: int, out: Outbox) -> None:
        due = self.engine.next_expiry()
        if due is not None and due <= now:
            self._handle(self._tick, Tick(), now, out)
            self.record(now, self._tick)

    def on_messages(self, batch: list[Inbound], now: int, out: Outbox) -> None:
        # Queries in this turn must not see what expired before it.
        self._tick_if_due(now, out)
        if log.isEnabledFor(logging.DEBUG):
            for message in batch:
                log.debug(
                    "request",
                    extra={
                        "fields": {"peer": message.peer.hex(), "request_id": message.trace.decode()}
                    },
                )
        for message in batch:
            try:
                request = self._decoder.decode(message.body)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                log.warning(
                    "a request does not decode",
                    extra={"fields": {"peer": message.peer.hex(), "error": str(error)}},
                )
                self._reply(out, message, ErrorReply("BAD_REQUEST", str(error)))
                continue
            if self._handle(message, request, now, out):
                self.record(now, message)
        self._publish(now, out)

    def replay(self, message: Inbound, now: int, out: Outbox) -> None:
        self._replaying = True
        try:
            self._handle(message, self._decoder.decode(message.body), now, out)
        finally:
            self._replaying = False

    def _handle(self, message: Inbound, request: EngineInbound, now: int, out: Outbox) -> bool:
        """Serve one request; True when it changed the state (and must be journaled)."""
        match request:
            case EngineRequest():
                return self._apply_request(message, request, now, out)
            case DepthQuery():
                bids, asks = self.engine.depth(request.limit or 1 << 62)
                engine = self.engine
                reply = DepthReply(
                    engine.market, engine.seq, engine.halted, bids, asks, engine.status
                )
                self._reply(out, message, reply)
            case AdminRequest():
                if not is_sender(message.sender, GATEWAY):
                    self._refuse(out, message, "admin", "only the gateway sends admin commands")
                    return False
                self.commands += 1
                events = self.engine.apply(request.command, now)
                self._route(events, _NO_ORIGIN, 0, now, out)
                self._reply(out, message, Ack())
                return True
            case Tick():
                if message.socket != CLOCK:
                    self._reply(out, message, ErrorReply("FORBIDDEN", "only the clock ticks"))
                    return False
                self._route(self.engine.apply(request, now), _NO_ORIGIN, 0, now, out)
                return True
            case StatusQuery():
                self._reply(out, message, self.status())
            case Sync():
                return self._sync(message, request, out)
        return False

    def _from_shard(self, message: Inbound, shard: int) -> bool:
        return (
            0 <= shard < self.shard_count
            and message.peer == self._identities[shard]
            and is_sender(message.sender, shard_name(shard))
        )

    def _refuse(self, out: Outbox, message: Inbound, what: str, why: str) -> None:
        self.refuse(message, what)
        if not self._replaying:
            self._reply(out, message, ErrorReply("FORBIDDEN", why))

    def _apply_request(
        self, message: Inbound, request: EngineRequest, now: int, out: Outbox
    ) -> bool:
        shard = request.shard
        if not self._from_shard(message, shard):
            self._refuse(out, message, "request", "only an accounts shard sends its requests")
            return False
        if not self._replaying and not self.fresh(shard_name(shard), request.epoch):
            return False
        link = self.links[shard]
        expected = link.received + 1
        verdict = link.accept(request.seq)
        if verdict != "accept":
            if verdict == "gap":
                log.warning(
                    "request past a gap refused",
                    extra={"fields": {"shard": shard, "seq": request.seq, "expected": expected}},
                )
            return False
        self.commands += 1
        if request.deadline and now + self.max_skew_ms > request.deadline:
            events: list[Event] = expired(request.command)
        else:
            events = self.engine.apply(request.command, now)
        self._route(events, shard, request.seq, now, out)
        return True

    def _sync(self, message: Inbound, request: Sync, out: Outbox) -> bool:
        """Forget what the shard applied, resend what is overdue; True if anything was
        forgotten (retained reports are state: a replay must trim them the same way)."""
        if not self._from_shard(message, request.shard):
            self._refuse(out, message, "sync", "only an accounts shard syncs its reports")
            return False
        if not self._replaying and not self.fresh(shard_name(request.shard), request.epoch):
            return False
        link = self.links[request.shard]
        forgotten = link.ack(request.applied)
        overdue = link.retained() if request.gap else link.due()
        if not self._replaying:
            identity = self._identities[request.shard]
            for report in overdue:
                out.reply(ROUTER, identity, 0, self._encode_report(report))
        return forgotten > 0

    def _route(
        self, events: list[Event], origin: int, request_seq: int, now: int, out: Outbox
    ) -> None:
        """Split a command's events into one report per shard involved, and collect the
        public ones for this turn's publication."""
        replaying = self._replaying
        public = self._public
        by_shard: dict[int, list[PrivateEvent]] = {} if origin == _NO_ORIGIN else {origin: []}
        for event in events:
            kind = type(event)
            if kind is LevelChanged:
                if not replaying:
                    public.append(event)  # type: ignore[arg-type]
            elif kind is Trade:
                trade: Trade = event  # type: ignore[assignment]
                if not replaying:
                    public.append(
                        PublicTrade(
                            trade.seq, trade.trade_id, trade.price, trade.qty, trade.taker_side, now
                        )
                    )
                taker_shard = trade.taker_user_id >> USER_SHIFT
                maker_shard = trade.maker_user_id >> USER_SHIFT
                by_shard.setdefault(taker_shard, []).append(trade)
                if maker_shard != taker_shard:
                    by_shard.setdefault(maker_shard, []).append(trade)
            else:
                private: Accepted | Rejected | Done | Amended | Triggered = event  # type: ignore[assignment]
                by_shard.setdefault(private.user_id >> USER_SHIFT, []).append(private)
        for shard, shard_events in by_shard.items():
            report = self._report(shard, request_seq if shard == origin else 0, now, shard_events)
            if not replaying:
                out.reply(ROUTER, self._identities[shard], 0, self._encode_report(report))

    def _encode_report(self, report: Report) -> bytes:
        """A report as it leaves: stamped with this leadership's epoch (retained reports
        carry none, so a new leader resends them as its own)."""
        epoch = self.epoch
        if epoch:
            report = msgspec.structs.replace(report, epoch=epoch)
        return self._encoder.encode(report)

    def _report(self, shard: int, request_seq: int, now: int, events: list[PrivateEvent]) -> Report:
        """The next report to ``shard``, numbered and retained until the shard syncs."""
        market = self.engine.market
        return self.links[shard].send(lambda seq: Report(market, seq, request_seq, now, events))

    def _publish(self, now: int, out: Outbox) -> None:
        if not self._public:
            return
        market = self.engine.market
        events = self._public
        self._public = []
        out.publish(book_topic(market), self._encoder.encode(MarketEvents(market, now, events)))
        trades: list[LevelChanged | PublicTrade] = [e for e in events if isinstance(e, PublicTrade)]
        if trades:
            out.publish(
                trade_topic(market), self._encoder.encode(MarketEvents(market, now, trades))
            )

    def _reply(self, out: Outbox, message: Inbound, reply: object) -> None:
        out.reply(ROUTER, message.peer, message.rid, self._encoder.encode(reply))

    def register_gauges(self, metrics: ActorMetrics) -> None:
        super().register_gauges(metrics)
        engine = self.engine
        metrics.gauge(
            "bourse_open_orders", "Orders resting in the book", lambda: len(engine.orders)
        )
        metrics.gauge(
            "bourse_bid_levels", "Price levels on the bid side", lambda: len(engine.bids.levels)
        )
        metrics.gauge(
            "bourse_ask_levels", "Price levels on the ask side", lambda: len(engine.asks.levels)
        )
        metrics.gauge("bourse_market_seq", "The market's last sequence number", lambda: engine.seq)
        metrics.gauge(
            "bourse_untriggered_orders",
            "Conditional orders waiting for their trigger",
            lambda: len(self.engine.stops),
        )
        metrics.gauge(
            "bourse_gtd_orders", "GTD orders waiting to expire", lambda: len(self.engine.expiry)
        )
        metrics.gauge(
            "bourse_retained_reports",
            "Reports kept until their shard confirms them",
            lambda: sum(link.unacked for link in self.links.values()),
        )

    def on_undeliverable(self, socket: str, peer: bytes, rid: int, body: bytes) -> None:
        """A shard is away: its reports stay retained until it syncs."""

    def snapshot_state(self) -> bytes:
        return self._encoder.encode(
            EngineActorState(
                self.engine.snapshot(),
                {shard: link.state() for shard, link in self.links.items()},
                self.commands,
            )
        )

    def restore(self, data: bytes) -> None:
        state = msgspec.msgpack.decode(data, type=EngineActorState)
        rules = self.config.markets[self.engine.market]
        self.engine = MatchingEngine.restore(state.engine, rules.tick, rules.lot, rules.base_scale)
        self.links = {shard: Link(state.links.get(shard)) for shard in range(self.shard_count)}
        self.commands = state.commands

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot_state()).hexdigest()

    def status(self) -> EngineStatus:
        engine = self.engine
        return EngineStatus(
            engine.market,
            engine.seq,
            engine.halted,
            len(engine.orders),
            len(engine.bids.levels),
            len(engine.asks.levels),
            self.commands,
            engine.status,
            len(engine.stops),
            self.pair_status(),
        )


def expired(command: Place | Cancel | CancelAll | Amend | PlaceList | CancelList) -> list[Event]:
    """The answer to a request that came past its deadline: each order it names is
    refused ``EXPIRED`` (a cancel-all names none), and nothing is applied."""
    match command:
        case Place() | Cancel() | Amend():
            return [Rejected(command.order_id, command.user_id, "EXPIRED")]
        case PlaceList():
            legs = (command.limit, command.stop)
            return [Rejected(leg.order_id, leg.user_id, "EXPIRED") for leg in legs]
    return []
