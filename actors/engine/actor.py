"""The engine actor: one market's MatchingEngine behind a ROUTER and a PUB socket.

Invariants:
- Only an accounts shard (ROUTER identity ``accounts-<k>`` naming the same shard as the
  request) may send an :class:`EngineRequest`; each shard's requests are applied once and
  in order of their sequence numbers; a repeat is ignored, a request past a gap is
  refused until the missing ones arrive.
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
import itertools
import logging

import msgspec

from actors.durable import DurableActor
from actors.engine.engine import EngineSnapshot, MatchingEngine
from actors.engine.messages import (
    Accepted,
    Amended,
    Done,
    Event,
    LevelChanged,
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
from bourse.config import Config
from bourse.ids import USER_SHIFT
from bourse.metrics import ActorMetrics
from transport.runtime import Inbound, Outbox, Runtime

log = logging.getLogger("engine")

ROUTER = "router"
CLOCK = "clock"  # the socket name of the ticks the actor journals; no real socket has it
_NO_ORIGIN = -1  # no shard asked: no report is owed to anyone in particular


class EngineActorState(msgspec.Struct, frozen=True):
    engine: EngineSnapshot
    in_seq: dict[int, int]
    out_seq: dict[int, int]
    retained: dict[int, list[Report]]
    commands: int


class EngineActor(DurableActor):
    def __init__(self, config: Config, market: str) -> None:
        self.name = f"engine-{market}"
        self.config = config
        self.process = config.engines[market]
        self.metrics_endpoint = self.process.metrics
        rules = config.markets[market]
        self.engine = MatchingEngine(market, rules.tick, rules.lot, rules.base_scale)
        self.shard_count = len(config.shards)
        self._identities = [shard_identity(shard) for shard in range(self.shard_count)]
        self.in_seq: dict[int, int] = {}
        self.out_seq: dict[int, int] = {}
        self.retained: dict[int, dict[int, Report]] = {}
        self.commands = 0
        self._decoder = msgspec.msgpack.Decoder(EngineInbound)
        self._encoder = msgspec.msgpack.Encoder()
        self._public: list[LevelChanged | PublicTrade] = []
        # Replay rebuilds state only: nothing is published or encoded for sending.
        self._replaying = False
        # Per shard, the newest report retained at its last Sync (not state: it only
        # decides what a Sync resends, and after a restart the next Sync sets it again).
        self._synced_mark: dict[int, int] = {}
        self._tick = Inbound(CLOCK, b"", 0, self._encoder.encode(Tick()))

    def setup(self, runtime: Runtime) -> None:
        self.open_journal(self.config)
        runtime.bind_router(ROUTER, *self.process.router.binds)
        runtime.bind_pub(*self.process.pub.binds)
        log.info("engine ready", extra={"fields": {"market": self.engine.market}})

    def on_idle(self, now: int, out: Outbox) -> None:
        self._tick_if_due(now, out)
        self._publish(now, out)

    def _tick_if_due(self, now: int, out: Outbox) -> None:
        due = self.engine.next_expiry()
        if due is not None and due <= now:
            self._handle(self._tick, Tick(), now, out)
            self.record(now, self._tick)

    def on_batch(self, batch: list[Inbound], now: int, out: Outbox) -> None:
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
        return 0 <= shard < self.shard_count and message.peer == self._identities[shard]

    def _apply_request(
        self, message: Inbound, request: EngineRequest, now: int, out: Outbox
    ) -> bool:
        shard = request.shard
        if not self._from_shard(message, shard):
            self._reply(out, message, ErrorReply("FORBIDDEN", "only accounts shards place orders"))
            return False
        last = self.in_seq.get(shard, 0)
        if request.seq <= last:
            return False
        if request.seq != last + 1:
            log.warning(
                "request past a gap refused",
                extra={"fields": {"shard": shard, "seq": request.seq, "expected": last + 1}},
            )
            return False
        self.in_seq[shard] = request.seq
        self.commands += 1
        events = self.engine.apply(request.command, now)
        self._route(events, shard, request.seq, now, out)
        return True

    def _sync(self, message: Inbound, request: Sync, out: Outbox) -> bool:
        """Forget what the shard applied, resend the rest; True if anything was forgotten
        (retained reports are state: a replay must trim them the same way)."""
        if not self._from_shard(message, request.shard):
            self._reply(out, message, ErrorReply("FORBIDDEN", "only accounts shards sync"))
            return False
        retained = self.retained.get(request.shard)
        if not retained:
            return False
        applied = list(itertools.takewhile(lambda seq: seq <= request.applied, retained))
        for seq in applied:
            del retained[seq]
        mark = self._synced_mark.get(request.shard, 0)
        identity = self._identities[request.shard]
        for seq, report in retained.items():
            if seq > mark or self._replaying:
                break
            out.reply(ROUTER, identity, 0, self._encoder.encode(report))
        self._synced_mark[request.shard] = next(reversed(retained), 0)
        return bool(applied)

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
        market = self.engine.market
        out_seq = self.out_seq
        for shard, shard_events in by_shard.items():
            seq = out_seq.get(shard, 0) + 1
            out_seq[shard] = seq
            report = Report(market, seq, request_seq if shard == origin else 0, now, shard_events)
            self.retained.setdefault(shard, {})[seq] = report
            if not replaying:
                out.reply(ROUTER, self._identities[shard], 0, self._encoder.encode(report))

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
            lambda: sum(len(r) for r in self.retained.values()),
        )

    def on_undeliverable(self, socket: str, peer: bytes, rid: int, body: bytes) -> None:
        """A shard is away: its reports stay retained until it syncs."""

    def snapshot_state(self) -> bytes:
        return self._encoder.encode(
            EngineActorState(
                self.engine.snapshot(),
                self.in_seq,
                self.out_seq,
                {shard: list(reports.values()) for shard, reports in self.retained.items()},
                self.commands,
            )
        )

    def restore(self, data: bytes) -> None:
        state = msgspec.msgpack.decode(data, type=EngineActorState)
        rules = self.config.markets[self.engine.market]
        self.engine = MatchingEngine.restore(state.engine, rules.tick, rules.lot, rules.base_scale)
        self.in_seq = dict(state.in_seq)
        self.out_seq = dict(state.out_seq)
        self.retained = {
            shard: {report.seq: report for report in reports}
            for shard, reports in state.retained.items()
        }
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
        )
