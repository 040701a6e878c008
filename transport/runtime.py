"""The loop that runs one actor: sockets in, a batch to the state machine, results out.

Invariants:
- One thread, one zmq Context, one owner of the actor's state.
- Each turn reads every message that is ready (up to ``MAX_BATCH`` from each socket,
  so that no socket starves another) into one batch,
  stamps one time for it, hands it to the actor, calls the actor's ``commit`` (the
  journal hook: the batch is durable when it returns), and only then sends what the
  batch produced.  Nothing leaves the process before its cause is on disk: the one
  exception, ``Outbox.reply_settled``, is for replies whose every cause is already on
  disk elsewhere (a request journaled in an earlier turn and a peer's journaled answer
  that the peer resends until told it was applied), so they go out before the commit.
  An actor's ``commit`` sees the outbox, so it may skip the wait for the disk when
  nothing in it depends on this turn's records (actors/durable.py says when).
- A frame that is not ours is dropped with a log line (the actor answers undecodable
  bodies itself, when they have a return address); it never stops the loop.  An
  exception out of the actor is a bug: the loop logs it, calls ``on_failure`` and stops
  without sending that batch's results, so a supervisor restarts the actor from its
  journal.
- Whatever one turn sends to the same peer through the same socket leaves as one message
  of envelopes (transport/framing.py), in the order it was produced; a message of
  envelopes that comes in is handed to the actor as the messages it carries.
- SIGTERM or SIGINT stops the loop within ``POLL_MS``; sockets close with LINGER 0.  More
  of them while the actor stops (its last snapshot) change nothing: the handlers stay
  until it has stopped.
- With ``busy_poll_us``, the loop polls without sleeping for that long after a turn that
  had messages, yielding the CPU between polls; a quiet actor sleeps as before.
- Once the actor has started, the garbage collector settles (bourse/gcpolicy.py): what
  the actor holds is never scanned again, and collections come less often.
- Every socket is secured by the process's :class:`BusSecurity` (transport/security.py):
  ROUTERs and PUBs are CURVE servers of a ZAP domain, DEALERs CURVE clients of one named
  peer.  Each inbound message carries its sender: the ``User-Id`` the handshake proved on
  a ROUTER, the dialed peer's name on a DEALER.  Nothing in the message bytes decides it.
- A DEALER never queues for a peer that is not connected (``ZMQ_IMMEDIATE``): a send that
  finds none is dropped and counted, and the numbered link resends it (actors/link and
  the Sync rules): a peer that comes back is not flooded by a backlog, and a rotated key
  never leaves messages on a connection that cannot complete its handshake.
- No socket takes a message past its size limit (``ZMQ_MAXMSGSIZE``): requests on a
  ROUTER at most ``MAX_REQUEST_MESSAGE``, subscriptions on a PUB at most
  ``MAX_SUBSCRIPTION``; the peer that sends one is disconnected.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, field
from types import FrameType

import msgspec
import zmq

from bourse.config import Endpoint
from bourse.gcpolicy import ACTOR_THRESHOLDS, settle_after_startup
from bourse.logs import now_ms
from bourse.metrics import ActorMetrics
from transport.framing import (
    MAX_BODY,
    MAX_REPLY_MESSAGE,
    MAX_REQUEST_MESSAGE,
    Envelope,
    messages,
    recv_message_nowait,
    send_frames,
    unpack_message,
)
from transport.liveness import keep_alive, peer_connected
from transport.pubsub import MAX_SUBSCRIPTION, PUB_HWM, Publisher
from transport.security import ANYONE, BusSecurity, address_of, sender_of

log = logging.getLogger("runtime")

MAX_BATCH = 1024
POLL_MS = 100
ROUTER_HWM = 1_000_000
KEYS_CHECK_S = 1.0  # how often the keys folder is looked at for a rotation
_NOBLOCK = int(zmq.NOBLOCK)


class Inbound(msgspec.Struct, frozen=True, gc=False):
    socket: str
    peer: bytes  # the ROUTER identity of the sender; b"" on a DEALER
    rid: int
    body: bytes
    trace: bytes = b""  # the request id for the logs, when the sender gave one
    # The process that sent it, as its handshake proved (bourse/peers.py names them);
    # ANYONE when security is off.
    sender: str = ANYONE
    meta: object = None  # the zmq.Frame whose metadata tells the sender's address

    @property
    def address(self) -> str:
        """The sender's network address (for logs and metrics)."""
        return address_of(self.meta) if isinstance(self.meta, zmq.Frame) else "unknown"


@dataclass(slots=True)
class Outbox:
    """What one batch produced, sent by the runtime after the commit."""

    replies: list[tuple[str, bytes, int, bytes]] = field(default_factory=list)
    settled: list[tuple[str, bytes, int, bytes]] = field(default_factory=list)
    sends: list[tuple[str, int, bytes, bytes]] = field(default_factory=list)
    publications: list[tuple[bytes, bytes]] = field(default_factory=list)

    def reply(self, socket: str, peer: bytes, rid: int, body: bytes) -> None:
        """Send ``body`` to ``peer`` through the ROUTER named ``socket``."""
        self.replies.append((socket, peer, rid, body))

    def reply_settled(self, socket: str, peer: bytes, rid: int, body: bytes) -> None:
        """Like ``reply``, sent before the commit: only for a reply that this turn's
        records do not decide (see the module's invariants)."""
        self.settled.append((socket, peer, rid, body))

    def send(self, socket: str, rid: int, body: bytes, trace: bytes = b"") -> None:
        """Send ``body`` through the DEALER named ``socket`` (with a request id to log)."""
        self.sends.append((socket, rid, body, trace))

    def publish(self, topic: bytes, body: bytes) -> None:
        self.publications.append((topic, body))

    def clear(self) -> None:
        self.replies.clear()
        self.settled.clear()
        self.sends.clear()
        self.publications.clear()


class Actor(ABC):
    """Lifecycle: ``setup`` (sockets), ``on_start``, ``on_batch``/``commit`` per turn,
    ``on_idle`` when a poll times out, ``on_stop`` on a clean stop, ``on_failure`` on a bug."""

    name: str = "actor"
    metrics_endpoint: Endpoint | None = None
    runtime: Runtime | None = None

    @abstractmethod
    def setup(self, runtime: Runtime) -> None: ...

    def on_start(self, out: Outbox) -> None:
        """Called once after the sockets exist, before the first batch."""

    @abstractmethod
    def on_batch(self, batch: list[Inbound], now: int, out: Outbox) -> None: ...

    def commit(self, out: Outbox) -> None:
        """Make this turn's commands durable; called before ``out`` is sent (the actor may
        leave them to a later commit when nothing in ``out`` depends on them)."""

    def on_idle(self, now: int, out: Outbox) -> None:
        """Called when no message came for ``POLL_MS``."""

    def on_peer(self, socket: str, up: bool, out: Outbox) -> None:
        """The peer a DEALER dials came up (connected, handshake done) or went down
        (closed, or silent past the heartbeat timeout)."""

    def on_undeliverable(self, socket: str, peer: bytes, rid: int, body: bytes) -> None:
        """A ROUTER reply found no peer connected under ``peer``."""
        log.warning("undeliverable", extra={"fields": {"socket": socket, "peer": repr(peer)}})

    def on_stop(self) -> None:
        """Called after the loop ends cleanly."""

    def on_failure(self, error: BaseException) -> None:
        """Called when the actor raised; the process exits non-zero afterwards."""

    def refuse(self, message: Inbound, what: str) -> None:
        """Count and log a message its sender may not send (it is never applied)."""
        runtime = self.runtime
        if runtime is not None:
            runtime.security.metrics.message_refused(message.address, message.sender, what)
        log.warning(
            "message refused",
            extra={
                "fields": {
                    "sender": message.sender,
                    "peer": message.address,
                    "message": what,
                    "socket": message.socket,
                }
            },
        )

    def register_gauges(self, metrics: ActorMetrics) -> None:
        """Add the actor's own gauges (read at scrape time)."""


class Runtime:
    def __init__(
        self,
        actor: Actor,
        security: BusSecurity,
        metrics: ActorMetrics | None = None,
        busy_poll_us: int = 0,
    ) -> None:
        self.actor = actor
        self.security = security
        self._busy_poll_s = busy_poll_us / 1e6
        self._busy_until = 0.0
        self.context = zmq.Context()
        self._inputs: dict[str, zmq.Socket[bytes]] = {}
        self._routers: set[str] = set()
        self._servers: dict[str, str] = {}  # DEALER socket name -> the peer it dials
        self._up: dict[str, bool] = {}  # DEALER socket name -> its peer is connected
        self._publisher: Publisher | None = None
        self._stopping = False
        self._poller = zmq.Poller()
        self._keys_checked = 0.0
        self.metrics = metrics or ActorMetrics(actor.name)
        self.unsent = 0  # messages a DEALER dropped: no peer was connected

    # --- sockets, created by the actor's setup ------------------------------------------

    def bind_router(self, name: str, domain: str, *endpoints: str) -> None:
        """A ROUTER for the peers ``domain`` admits (bourse/peers.py)."""
        socket = self.context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        socket.setsockopt(zmq.SNDHWM, ROUTER_HWM)
        socket.setsockopt(zmq.RCVHWM, ROUTER_HWM)
        socket.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_MESSAGE)
        keep_alive(socket)
        self.security.serve(socket, domain)
        for endpoint in endpoints:
            socket.bind(endpoint)
        self._add_input(name, socket)
        self._routers.add(name)

    def connect_dealer(
        self, name: str, servers: list[tuple[str, str]], role: str, identity: bytes
    ) -> None:
        """A DEALER to ``servers`` (endpoint and process name: the instances of one pair,
        of which only the leader listens), addressed by ``identity``; what comes back is
        from ``role``, the pair's name."""
        socket = self.context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.IDENTITY, identity)
        socket.setsockopt(zmq.IMMEDIATE, 1)
        socket.setsockopt(zmq.SNDHWM, ROUTER_HWM)
        socket.setsockopt(zmq.RCVHWM, ROUTER_HWM)
        socket.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_MESSAGE)
        keep_alive(socket)
        for endpoint, server in servers:
            self.security.connect(socket, endpoint, server)
        self._add_input(name, socket)
        self._servers[name] = role
        self._up[name] = False

    def bind_pub(
        self,
        domain: str,
        *endpoints: str,
        max_topic: int,
        max_subscriptions: int,
        learn_subscriptions: bool = False,
    ) -> Publisher:
        """A PUB socket for the subscribers ``domain`` admits; it takes subscriptions no
        longer than ``max_topic`` (the longest topic it publishes) and at most
        ``max_subscriptions`` of them.  With ``learn_subscriptions`` its publisher also
        says which topics have subscribers (for streams where most topics have none)."""
        socket = self.context.socket(zmq.XPUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SNDHWM, PUB_HWM)
        socket.setsockopt(zmq.MAXMSGSIZE, MAX_SUBSCRIPTION)
        keep_alive(socket)
        self.security.serve(socket, domain)
        for endpoint in endpoints:
            socket.bind(endpoint)
        publisher = Publisher(
            socket, max_topic, max_subscriptions, learn_subscriptions=learn_subscriptions
        )
        self._publisher = publisher
        self._poller.register(socket, zmq.POLLIN)
        self.metrics.gauge(
            "bourse_pub_subscriptions",
            "Subscriptions the PUB socket holds (each subscriber's, counted apart)",
            lambda: publisher.held,
        )
        self.metrics.gauge(
            "bourse_pub_subscriptions_refused",
            "Subscriptions refused: longer than any topic published, or past the cap",
            lambda: publisher.refused,
        )
        return publisher

    def _add_input(self, name: str, socket: zmq.Socket[bytes]) -> None:
        self._inputs[name] = socket
        self._poller.register(socket, zmq.POLLIN)

    # --- the loop -------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True

    def run(self) -> int:
        """Run until stopped; 0 after a clean stop, 1 after a failure."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        out = Outbox()
        self.actor.runtime = self
        try:
            try:
                self.security.start(self.context)
                self.actor.setup(self)
                self.security.listening()
                endpoint = self.actor.metrics_endpoint
                if endpoint is not None:
                    self.actor.register_gauges(self.metrics)
                    self.metrics.serve(endpoint.address, endpoint.port)
                self.actor.on_start(out)
                self._flush(out)
                settle_after_startup(ACTOR_THRESHOLDS)
                while not self._stopping:
                    self._turn(out)
            except Exception as error:
                log.exception("actor failed", extra={"fields": {"actor": self.actor.name}})
                self.actor.on_failure(error)
                return 1
            finally:
                self.security.stop()
                self.context.destroy(linger=0)
            # Still under our handlers: Ctrl-C reaches every process of the terminal's
            # group, and the supervisor's SIGTERM follows; neither may cut the snapshot.
            self.actor.on_stop()
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _poll(self) -> dict[zmq.Socket[bytes], int]:
        poll = self._poller.poll
        if self._busy_poll_s:
            clock = time.perf_counter
            while clock() < self._busy_until:
                ready = poll(0)
                if ready:
                    return dict(ready)
                # Lets the other processes on this core run (they may be about to send
                # what this one waits for) while keeping this one off the sleep path.
                os.sched_yield()
        return dict(poll(POLL_MS))

    def _turn(self, out: Outbox) -> None:
        try:
            ready = self._poll()
        except zmq.ZMQError as error:
            if error.errno == errno.EINTR:
                return
            raise
        batch = self._read_batch(ready) if ready else []
        self._follow_peers(out)
        started = time.perf_counter()
        if batch:
            self.actor.on_batch(batch, now_ms(), out)
        elif not ready:
            self.actor.on_idle(now_ms(), out)
        applied = time.perf_counter()
        if out.settled:
            self._send_replies(out.settled)
            out.settled.clear()
        self.actor.commit(out)
        committed = time.perf_counter()
        self._flush(out)
        if committed - self._keys_checked > KEYS_CHECK_S:
            self._keys_checked = committed
            self.security.refresh()
        if batch:
            self._busy_until = time.perf_counter() + self._busy_poll_s
            metrics = self.metrics
            metrics.messages.inc(len(batch))
            metrics.batch_size.observe(len(batch))
            metrics.turn_seconds.observe(applied - started)
            metrics.commit_seconds.observe(committed - applied)

    def socket(self, name: str) -> zmq.Socket[bytes]:
        """The socket ``name``, for an actor that must send or wait outside a turn's
        outbox (a leader streaming its journal, waiting for the acknowledgement)."""
        return self._inputs[name]

    def read_now(self, name: str) -> list[Inbound]:
        """Every message waiting on the ROUTER ``name``, as a turn would read them."""
        socket = self._inputs[name]
        secured = self.security.enabled
        read: list[Inbound] = []
        while True:
            try:
                frames, first = recv_message_nowait(socket)
            except zmq.Again:
                return read
            _parse_request(name, frames, sender_of(first) if secured else ANYONE, first, read)

    def is_up(self, name: str) -> bool:
        """Whether the peer of the DEALER ``name`` was connected at this turn's start."""
        return self._up.get(name, False)

    def _follow_peers(self, out: Outbox) -> None:
        for name, was_up in self._up.items():
            up = peer_connected(self._inputs[name])
            if up != was_up:
                self._up[name] = up
                log.info(
                    "peer up" if up else "peer down",
                    extra={"fields": {"peer": self._servers[name], "socket": name}},
                )
                self.actor.on_peer(name, up, out)

    def _read_batch(self, ready: dict[zmq.Socket[bytes], int]) -> list[Inbound]:
        publisher = self._publisher
        if publisher is not None and publisher.socket in ready:
            publisher.read_subscriptions()  # first, so this turn's messages see them
        batch: list[Inbound] = []
        secured = self.security.enabled
        for name, socket in self._inputs.items():
            if socket not in ready:
                continue
            is_router = name in self._routers
            server = self._servers.get(name, ANYONE) if secured else ANYONE
            # Each socket has its own budget: a flood on one (clients' requests) never
            # keeps a turn from reading another (the engines' reports that free funds).
            read = 0
            while read < MAX_BATCH:
                read += 1
                try:
                    frames, first = recv_message_nowait(socket)
                except zmq.Again:
                    break
                if is_router:
                    sender = sender_of(first) if secured else ANYONE
                    parsed = _parse_request(name, frames, sender, first, batch)
                else:
                    parsed = _parse_reply(name, frames, server, batch)
                if not parsed:
                    log.warning(
                        "dropped a malformed message",
                        extra={"fields": {"socket": name, "peer": address_of(first)}},
                    )
        return batch

    def _send_replies(self, replies: list[tuple[str, bytes, int, bytes]]) -> None:
        by_peer: defaultdict[tuple[str, bytes], list[Envelope]] = defaultdict(list)
        for name, peer, rid, body in replies:
            by_peer[name, peer].append(Envelope(rid, body))
        for (name, peer), envelopes in by_peer.items():
            socket = self._inputs[name]
            for frames, carried in messages(envelopes):
                try:
                    send_frames(socket, (peer, *frames))
                except zmq.ZMQError as error:
                    if error.errno != zmq.EHOSTUNREACH:
                        raise
                    for envelope in carried:
                        self.actor.on_undeliverable(name, peer, envelope.rid, envelope.body)

    def _send_requests(self, sends: list[tuple[str, int, bytes, bytes]]) -> None:
        by_socket: defaultdict[str, list[Envelope]] = defaultdict(list)
        for name, rid, body, trace in sends:
            by_socket[name].append(Envelope(rid, body, trace))
        for name, envelopes in by_socket.items():
            socket = self._inputs[name]
            for frames, carried in messages(envelopes):
                try:
                    send_frames(socket, frames, _NOBLOCK)
                except zmq.Again:
                    # No peer connected (or its queue is full): the link resends it.
                    self.unsent += len(carried)

    def _flush(self, out: Outbox) -> None:
        if out.settled:
            self._send_replies(out.settled)
        if out.replies:
            self._send_replies(out.replies)
        if out.sends:
            self._send_requests(out.sends)
        if out.publications:
            publisher = self._publisher
            assert publisher is not None, "the actor publishes without a PUB socket"
            for topic, body in out.publications:
                publisher.publish(topic, body)
        out.clear()


def _parse_request(
    name: str, frames: list[bytes], sender: str, first: zmq.Frame, into: list[Inbound]
) -> bool:
    """Append the requests a ROUTER message carries to ``into``; False when malformed."""
    envelopes = unpack_message(frames[1:])
    if envelopes is None or any(len(e.body) > MAX_BODY for e in envelopes):
        return False
    peer = frames[0]
    into.extend(Inbound(name, peer, e.rid, e.body, e.trace, sender, first) for e in envelopes)
    return True


def _parse_reply(name: str, frames: list[bytes], server: str, into: list[Inbound]) -> bool:
    """Append what a DEALER message from ``server`` carries to ``into``."""
    envelopes = unpack_message(frames)
    if envelopes is None:
        return False
    into.extend(Inbound(name, b"", e.rid, e.body, e.trace, server) for e in envelopes)
    return True
