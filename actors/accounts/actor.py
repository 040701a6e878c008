"""The accounts actor: one shard's Ledger behind a ROUTER, a PUB and a DEALER per engine.

Invariants:
- Requests come in on the ROUTER (gateways, feeds); engine reports on the DEALERs, whose
  identity ``accounts-<k>`` lets every engine address this shard.
- Who may send what (the sender is the process its CURVE handshake proved, never a byte
  of the message): user requests (and with them ``Auth.admin``) only the gateway;
  ``Authenticate`` the gateway and the feed; ``GetStatus`` any process the ROUTER admits
  (gateway, feed, operator); a :class:`Report` only the engine of its own market, on the
  DEALER this shard dialed with that engine's key.  Anything else is refused (a 403
  ErrorReply to a request), counted and logged, and never applied or journaled.
- A body that does not decode is answered with a 400 ErrorReply naming the problem when
  it came with a return address, and the shard keeps serving.
- Everything the ledger produces in a turn is sent after the runtime's commit, except
  the replies that engine reports complete: those leave before it (see the ledger's
  ``LedgerOutput.settled``), which saves the client one fsync.
- A turn that sends no reply and no engine request (only reports came in) writes its
  records without waiting for the disk: the engine keeps every report until a Sync,
  sent only after a syncing commit, says it was applied, so a crash loses nothing the
  engine would not send again, and the events such a turn publishes are published
  again, the same, when the reports are applied again.
- A request that needs an engine this shard cannot reach now (its DEALER has no peer:
  down, or silent past the heartbeat) is answered 503 at once, before it is journaled;
  it changes nothing.  When an engine comes back, every request it has not answered is
  sent to it again at once.
- A report past a gap (those before it were lost: an engine that failed over, a message
  dropped) makes the shard ask that engine at once for every report after those it
  applied (a Sync with ``gap``, at most every ``GAP_SYNC_MS``).
- Time: when the ledger's next tick (a dead man's switch) is due at the start of a turn,
  busy or idle (idle turns come every 100 ms), the actor applies a tick before anything
  else and journals it as a message of its own ``clock`` socket, so a replay fires the
  same switches at the same times.  No socket carries a tick.
- Catching up: every ``SYNC_MS`` the shard tells each engine how far it applied its
  reports (the engine resends what came after and was already kept at the previous
  Sync) and resends each request that has gone
  unanswered for a whole period (the engine ignores numbers it already applied).  So a
  restart of either side, or a lost message, heals by sequence number.  At the same
  pace it publishes its count of key revocations (``KeysHeard`` on ``keys.<shard>``).
- The history store (actors/accounts/store.py) is written from committed records
  only: rows a turn archived are committed to it, and appended to its archive, after
  the turn's journal commit (and, with a standby, once the standby holds the records).
  Recovery makes it agree with the snapshot before replaying the journal after it; a
  standby that needs the whole state gets the archive with it (``install_state``).
"""

from __future__ import annotations

import logging

import msgspec

from actors.accounts import reads
from actors.accounts.ledger import Ledger
from actors.accounts.orders import engines_needed
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
    GetStatus,
    KeysHeard,
    PlaceBatch,
    PlaceOrder,
    PlaceOrderList,
    RevokeKey,
    Withdraw,
)
from actors.accounts.shard import LedgerOutput, keys_topic
from actors.accounts.store import SqliteHistory
from actors.durable import DurableActor
from actors.engine.protocol import EngineOutbound, EngineRequest, Report, Sync, shard_identity
from actors.pair import Pair, pair_of
from bourse.config import Config, data_dir
from bourse.metrics import ActorMetrics
from bourse.peers import (
    ACCOUNTS_PUB,
    ACCOUNTS_REPL,
    ACCOUNTS_ROUTER,
    engine_name,
    is_sender,
    sent_by,
)
from transport.runtime import Inbound, Outbox, Runtime

log = logging.getLogger("accounts")

ROUTER = "router"
SYNC_MS = 1000
GAP_SYNC_MS = 200
_CHANGES_STATE = (
    CreateUser,
    Deposit,
    Withdraw,
    PlaceOrder,
    CancelOrder,
    CancelOrders,
    AmendOrder,
    PlaceBatch,
    CancelBatch,
    PlaceOrderList,
    CancelOrderList,
    CancelAfter,
    CreateKey,
    RevokeKey,
)
CLOCK = "clock"  # the socket name of the ticks the actor journals; no real socket has it
# Private topics are ``<kind>.<user id>``: the longest kind and a 64-bit id.
MAX_TOPIC = len("balances.") + 20
# The feed holds three topics for each user connected to it; room for 100,000 at once.
MAX_SUBSCRIPTIONS = 300_000
_FORBIDDEN = ErrorReply(403, "FORBIDDEN", "this process may not send that request")
# What ``install_state`` sends: a ledger state and the history archive it counts.  A
# snapshot (msgpack of a map) never starts with this byte.
_INSTALL_MAGIC = b"\x00bourse-install\x00"


class _InstallImage(msgspec.Struct, array_like=True, frozen=True):
    state: bytes
    archive: bytes


def engine_socket(market: str) -> str:
    return f"engine:{market}"


class AccountsActor(DurableActor):
    def __init__(self, config: Config, shard: int, instance: int = 0) -> None:
        self.config = config
        self.process = config.shards[shard]
        self.instance = self.process.instances[instance]
        self.name = self.instance.name
        self.metrics_endpoint = self.instance.metrics
        self.shard = shard
        self.history: SqliteHistory | None = None  # opened with the journal
        self.ledger = _quiet(Ledger(config, shard))
        self._requests = msgspec.msgpack.Decoder(AccountsRequest)
        self._reports = msgspec.msgpack.Decoder(EngineOutbound)
        self._encoder = msgspec.msgpack.Encoder()
        self._last_sync = 0
        self._gap_synced: dict[str, int] = {}
        self._tick = Inbound(CLOCK, b"", 0, b"")

    # --- the history store beside the journal ----------------------------------------------

    def open_journal(self, config: Config) -> None:
        self.history = SqliteHistory(data_dir() / self.name)
        self.ledger = _quiet(Ledger(config, self.shard, history=self.history))
        super().open_journal(config)

    def recovered(self, covered: int) -> None:
        state = self.ledger.state
        assert self.history is not None
        self.history.reconcile(covered, state.archived, state.archived_bytes)

    def applied(self) -> None:
        if self.history is not None:
            self.history.flush()

    def make_durable(self) -> None:
        if self.history is not None:
            self.history.sync()

    def install_state(self) -> bytes:
        assert self.history is not None
        image = _InstallImage(self.snapshot_state(), self.history.archive_bytes())
        return _INSTALL_MAGIC + self._encoder.encode(image)

    def make_pair(self) -> Pair | None:
        return pair_of(self, self.process.instances, self.instance, ACCOUNTS_REPL)

    def serve(self, runtime: Runtime) -> None:
        runtime.bind_router(ROUTER, ACCOUNTS_ROUTER, *self.instance.router.binds)
        publisher = runtime.bind_pub(
            ACCOUNTS_PUB,
            *self.instance.pub.binds,
            max_topic=MAX_TOPIC,
            max_subscriptions=MAX_SUBSCRIPTIONS,
            learn_subscriptions=True,
        )
        self.ledger.changes.listening = publisher.wants
        self.ledger.changes.anyone_listening = publisher.has_subscribers
        identity = shard_identity(self.ledger.shard)
        for market, engine in self.config.engines.items():
            # Every instance of the engine: only its leader listens.
            runtime.connect_dealer(engine_socket(market), engine.routers, engine.name, identity)
        log.info("accounts shard ready", extra={"fields": {"shard": self.ledger.shard}})

    def on_messages(self, batch: list[Inbound], now: int, out: Outbox) -> None:
        produced = LedgerOutput()
        self._tick_if_due(now, produced)
        # The request id behind each engine request produced (a tick's have none).
        traces = [b""] * len(produced.engine)
        debug = log.isEnabledFor(logging.DEBUG)
        for message in batch:
            if message.socket == ROUTER:
                self._on_request(message, now, produced, out, debug)
            else:
                self._on_engine(message, now, produced)
            forwarded = len(produced.engine) - len(traces)
            if forwarded:
                traces.extend([message.trace] * forwarded)
        self._send(produced, traces, out)
        self._ask_again(produced.gaps, now, out)
        self._maybe_sync(now, out)

    def on_quiet(self, now: int, out: Outbox) -> None:
        produced = LedgerOutput()
        self._tick_if_due(now, produced)
        self._send(produced, [b""] * len(produced.engine), out)
        self._maybe_sync(now, out)

    def _tick_if_due(self, now: int, produced: LedgerOutput) -> None:
        due = self.ledger.next_tick()
        if due is not None and due <= now:
            self.record(now, self._tick)
            self._archiving()
            self.ledger.handle_tick(now, produced)

    def must_sync(self, out: Outbox) -> bool:
        return bool(out.replies or out.sends)

    def _send(self, produced: LedgerOutput, traces: list[bytes], out: Outbox) -> None:
        encode = self._encoder.encode
        for peer, rid, reply in produced.settled:
            out.reply_settled(ROUTER, peer, rid, encode(reply))
        for peer, rid, reply in produced.replies:
            out.reply(ROUTER, peer, rid, encode(reply))
        for (market, request), trace in zip(produced.engine, traces, strict=True):
            out.send(engine_socket(market), 0, self._encode_request(request), trace)
        for topic, event in produced.events:
            out.publish(topic, encode(event))

    def _on_request(
        self, message: Inbound, now: int, produced: LedgerOutput, out: Outbox, debug: bool
    ) -> None:
        try:
            request = self._requests.decode(message.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            log.warning(
                "a request does not decode",
                extra={
                    "fields": {
                        "peer": message.peer.hex(),
                        "request_id": message.trace.decode(),
                        "error": str(error),
                    }
                },
            )
            reply = ErrorReply(400, "BAD_REQUEST", f"request does not decode: {error}")
            out.reply(ROUTER, message.peer, message.rid, self._encoder.encode(reply))
            return
        if not _may_send(message.sender, request):
            self.refuse(message, type(request).__name__)
            out.reply(ROUTER, message.peer, message.rid, self._encoder.encode(_FORBIDDEN))
            return
        if debug:
            log.debug(
                "request",
                extra={
                    "fields": {"kind": type(request).__name__, "request_id": message.trace.decode()}
                },
            )
        answer = self._answer_here(request, now)
        if answer is not None:
            out.reply(ROUTER, message.peer, message.rid, self._encoder.encode(answer))
            return
        if isinstance(request, _CHANGES_STATE):
            self.record(now, message)
            self._archiving()
        self.ledger.handle_request(now, message.peer, message.rid, request, produced)

    def _engines_up(self) -> dict[str, bool]:
        runtime = self.runtime
        return {
            market: runtime is not None and runtime.is_up(engine_socket(market))
            for market in self.config.engines
        }

    def _answer_here(self, request: AccountsRequest, now: int) -> AccountsReply | None:
        """What the actor itself answers, from what only it knows (its links, its clock):
        the status, a 408 for a request past its deadline, and a 503 for a request whose
        engine it cannot reach now.  Such a refusal is never journaled: it changes
        nothing, and a replay could not know the link was down."""
        if isinstance(request, GetStatus):
            status = reads.status(self.ledger.state)
            return msgspec.structs.replace(
                status, engines_up=self._engines_up(), pair=self.pair_status()
            )
        deadline: int = getattr(request, "deadline", 0)
        if deadline and now + self.config.exchange.max_clock_skew_ms > deadline:
            return ErrorReply(408, "EXPIRED", "it came past its deadline: it was not executed")
        down = self._engine_down_for(request)
        if down is not None:
            return ErrorReply(503, "UNAVAILABLE", f"the {down} engine is not reachable")
        return None

    def _engine_down_for(self, request: AccountsRequest) -> str | None:
        """The market whose engine ``request`` needs and cannot reach now, if any."""
        runtime = self.runtime
        if runtime is None:
            return None
        for market in sorted(engines_needed(self.ledger.state, request)):
            if market in self.config.engines and not runtime.is_up(engine_socket(market)):
                return market
        return None

    def on_peer(self, socket: str, up: bool, out: Outbox) -> None:
        """An engine that comes back may have lost whatever was sent while it was away
        (a DEALER drops what finds no peer): send it every request it has not answered."""
        if not up:
            return
        market = socket.removeprefix("engine:")
        link = self.ledger.state.links.get(market)
        if link is None:
            return
        for request in link.retained():
            out.send(socket, 0, self._encode_request(request))

    def _on_engine(self, message: Inbound, now: int, produced: LedgerOutput) -> None:
        try:
            reply = self._reports.decode(message.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            log.error("engine message does not decode", extra={"fields": {"error": str(error)}})
            return
        if isinstance(reply, Report):
            if not is_sender(message.sender, engine_name(reply.market)):
                self.refuse(message, "Report")
                return
            if not self.fresh(engine_name(reply.market), reply.epoch):
                return
            self.record(now, message)
            self._archiving()
            self.ledger.handle_report(reply, produced)
        else:
            log.warning("engine said", extra={"fields": {"reply": repr(reply)}})

    def _archiving(self) -> None:
        """Rows archived from now on come from the record just appended."""
        if self.history is not None:
            self.history.index = self.applying

    def replay(self, message: Inbound, now: int, out: Outbox) -> None:
        self._archiving()
        produced = LedgerOutput()
        if message.socket == ROUTER:
            request = self._requests.decode(message.body)
            self.ledger.handle_request(now, message.peer, message.rid, request, produced)
        elif message.socket == CLOCK:
            self.ledger.handle_tick(now, produced)
        else:
            report = self._reports.decode(message.body)
            if isinstance(report, Report):
                self.ledger.handle_report(report, produced)

    def _encode_request(self, request: EngineRequest) -> bytes:
        """An engine request as it leaves: stamped with this leadership's epoch (the
        retained ones carry none, so a new leader resends them as its own)."""
        epoch = self.epoch
        if epoch:
            request = msgspec.structs.replace(request, epoch=epoch)
        return self._encoder.encode(request)

    def _ask_again(self, gaps: set[str], now: int, out: Outbox) -> None:
        """Reports were lost before one that came: ask their engine for every report
        after those applied, at once (at most every ``GAP_SYNC_MS`` per engine, while the
        resend is on its way)."""
        for market in gaps:
            if now - self._gap_synced.get(market, 0) < GAP_SYNC_MS:
                continue
            self._gap_synced[market] = now
            received = self.ledger.state.links[market].received
            sync = Sync(self.ledger.shard, received, gap=True, epoch=self.epoch)
            out.send(engine_socket(market), 0, self._encoder.encode(sync))

    def _maybe_sync(self, now: int, out: Outbox) -> None:
        if now - self._last_sync < SYNC_MS:
            return
        self._last_sync = now
        shard = self.ledger.shard
        encode = self._encoder.encode
        for market, link in self.ledger.state.links.items():
            socket = engine_socket(market)
            for request in link.due():
                out.send(socket, 0, self._encode_request(request))
            out.send(socket, 0, encode(Sync(shard, link.received, epoch=self.epoch)))
        topic = keys_topic(shard)
        if self.ledger.changes.listening(topic):
            out.publish(topic, encode(KeysHeard(shard, self.ledger.state.revocations)))

    def register_gauges(self, metrics: ActorMetrics) -> None:
        super().register_gauges(metrics)
        metrics.gauge("bourse_users", "Users on this shard", lambda: len(self.ledger.state.users))
        metrics.gauge(
            "bourse_open_orders",
            "Open orders of this shard's users",
            lambda: len(self.ledger.state.open_orders),
        )
        metrics.gauge(
            "bourse_pending_requests",
            "Requests waiting for an engine",
            lambda: len(self.ledger.state.pending),
        )
        metrics.gauge(
            "bourse_unacked_requests",
            "Engine requests not yet answered",
            lambda: sum(link.unacked for link in self.ledger.state.links.values()),
        )

    def snapshot_state(self) -> bytes:
        return self.ledger.snapshot_bytes()

    def restore(self, data: bytes) -> None:
        """A snapshot's state, or a leader's whole state with its history archive."""
        if data.startswith(_INSTALL_MAGIC):
            image = msgspec.msgpack.decode(data[len(_INSTALL_MAGIC) :], type=_InstallImage)
            self.ledger = _quiet(Ledger.restore(self.config, image.state, self.history))
            if self.history is not None:
                self.history.replace(image.archive)
            return
        self.ledger = _quiet(Ledger.restore(self.config, data, self.history))

    def on_stop(self) -> None:
        super().on_stop()
        if self.history is not None:
            self.history.close()

    def state_hash(self) -> str:
        return self.ledger.state_hash()


def _quiet(ledger: Ledger) -> Ledger:
    """Until ``setup`` connects the publisher, nobody listens: a replay builds no events."""
    ledger.changes.anyone_listening = _nobody
    return ledger


def _nobody() -> bool:
    return False


def _may_send(sender: str, request: AccountsRequest) -> bool:
    """Whether the process ``sender`` may send ``request`` (see the module's invariants)."""
    if isinstance(request, GetStatus):
        return True  # the ROUTER admits only the exchange's own processes
    if isinstance(request, Authenticate):
        return sent_by(sender, "gateway", "feed")
    return sent_by(sender, "gateway")
