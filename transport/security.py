"""CURVE and ZAP on every socket between processes: who may speak on the bus.

Invariants:
- Every listening socket (ROUTER, PUB) is a CURVE server with a ZAP domain; every
  connecting socket (DEALER, SUB) is a CURVE client that proves its process's key and
  checks the server's.  Traffic is encrypted, and a stranger's handshake fails.
- The ZAP handler (``zmq.auth``'s, in a thread of the process's context) admits a client
  only when its public key is in the cluster's ``public/`` keys folder and the process
  that key belongs to may connect to that domain (``admits``).  The ``User-Id`` it gives
  the connection is the process's name, so every message that arrives carries, in its
  metadata, who sent it: identity comes from the handshake, never from message bytes.
- The allow-list follows the keys folder: a key added or removed there is accepted or
  refused from the next handshake on, without a restart (key rotation).  A client dials
  each server with every key the folder lists for it (during a rotation, two), so it
  reaches the server whichever key the server holds; ``refresh`` applies changes.
- Every refused handshake is counted, labelled by the peer's address: ZAP refusals (an
  unknown key, or a process not admitted to the domain) by the address ZAP reports;
  protocol failures (no CURVE, a wrong server key) by the address of the connection the
  failure closed (see :class:`HandshakeWatch`).  Labels are capped, so a flood of
  addresses cannot grow the metrics without bound.
- With security off (``enabled = False``, for benchmarks only) sockets are plain and
  every message's sender is ``ANYONE``.
"""

from __future__ import annotations

import logging
import os
import socket as stdsocket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from prometheus_client import CollectorRegistry, Counter
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

from bourse.config import Config
from bourse.peers import ANYONE, admits
from transport.keys import (
    PUBLIC,
    KeyFileError,
    KeyPair,
    folder_stamp,
    load_pair,
    load_public_keys,
    secret_path,
)

log = logging.getLogger("bus")

MAX_LABELS = 256  # distinct peer addresses in the metrics; the rest count as "other"
LOG_EVERY_S = 10.0  # a refused peer is logged at most this often (each refusal is counted)
Admits = Callable[[str, str], bool]


class BusMetrics:
    """Refused handshakes and refused messages, by peer address."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        """Counters registered in ``registry`` (None: in none yet, see ``register_in``)."""
        self.handshake_failures = Counter(
            "bourse_bus_handshake_failures",
            "Connections refused by CURVE or ZAP, by peer address and reason",
            ["peer", "reason"],
            registry=registry,
        )
        self.refused = Counter(
            "bourse_bus_refused_messages",
            "Messages refused because their sender's role may not send them",
            ["peer", "sender", "message"],
            registry=registry,
        )
        self._labels: set[str] = set()
        self._logged: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def register_in(self, registry: CollectorRegistry) -> None:
        registry.register(self.handshake_failures)
        registry.register(self.refused)

    def label(self, address: str) -> str:
        with self._lock:
            if address in self._labels or len(self._labels) < MAX_LABELS:
                self._labels.add(address)
                return address
        return "other"

    def handshake_failed(self, address: str, reason: str, **fields: object) -> None:
        """Count a refused handshake; log it too, at most once a while per peer (a
        stranger's socket retries every few hundred milliseconds)."""
        label = self.label(address)
        self.handshake_failures.labels(label, reason).inc()
        now = time.monotonic()
        with self._lock:
            logged = self._logged.get((label, reason))
            if logged is not None and now - logged < LOG_EVERY_S:
                return
            self._logged[(label, reason)] = now
        log.warning(
            "handshake refused", extra={"fields": {"peer": address, "reason": reason, **fields}}
        )

    def message_refused(self, address: str, sender: str, message: str) -> None:
        self.refused.labels(self.label(address), sender, message).inc()


class AllowList:
    """The cluster's public keys, reloaded when the folder changes; one thread's own."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._stamp = -1
        self._keys: dict[bytes, str] = {}

    def current(self) -> dict[bytes, str]:
        stamp = folder_stamp(self._folder)
        if stamp != self._stamp:
            try:
                self._keys = load_public_keys(self._folder)
                self._stamp = stamp
            except Exception:
                log.exception("public keys not reloaded; the previous ones stay in force")
        return self._keys

    def process_of(self, public_z85: bytes) -> str | None:
        return self.current().get(public_z85)

    def keys_of(self, process: str) -> list[bytes]:
        return sorted(key for key, owner in self.current().items() if owner == process)


class BusAuthenticator(ThreadAuthenticator):
    """``zmq.auth``'s ZAP handler, answering from the allow-list and the domains."""

    def __init__(
        self,
        context: zmq.Context[Any],
        folder: Path,
        admits: Admits,
        domains: list[str],
        metrics: BusMetrics,
    ) -> None:
        super().__init__(context, log=logging.getLogger("bus.zap"))
        self._allow = AllowList(folder)
        self._admits = admits
        self._metrics = metrics
        self._domains = domains
        self._address = ""

    def start(self) -> None:
        super().start()
        for domain in self._domains:
            self.configure_curve_callback(domain, self)

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        # The credentials callback is not told the peer's address; remember it here.
        self._address = msg[3].decode(errors="replace") if len(msg) > 3 else "unknown"
        await super().handle_zap_message(msg)

    def callback(self, domain: str, key: bytes) -> bool:
        process = self._allow.process_of(key)
        if process is not None and self._admits(domain, process):
            return True
        reason = "unknown_key" if process is None else "not_admitted"
        self._metrics.handshake_failed(self._address, reason, domain=domain, key_of=process)
        return False

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self._allow.process_of(z85.encode(client_public_key)) or "unknown"


class HandshakeWatch(threading.Thread):
    """Counts handshakes that fail before ZAP is asked (a client without CURVE, or with a
    wrong server key), by the peer's address.

    libzmq's monitor gives the descriptor of each accepted connection, and reports a
    protocol failure just before the DISCONNECTED event of the connection it closed (both
    from the one I/O thread, in order), without saying which: so the peer address of a
    failure is that of the descriptor disconnected next.  ZAP refusals are counted by the
    authenticator, which knows the address, and are not counted again here.
    """

    _EVENTS = (
        zmq.EVENT_ACCEPTED
        | zmq.EVENT_DISCONNECTED
        | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
        | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    )

    def __init__(self, context: zmq.Context[Any], metrics: BusMetrics) -> None:
        super().__init__(name="bus-handshakes", daemon=True)
        self._context: zmq.Context[Any] = zmq.Context.shadow(context.underlying)
        self._metrics = metrics
        self._monitors: list[zmq.Socket[bytes]] = []
        self._stopping = threading.Event()
        self._peers: dict[int, str] = {}
        self._failed = ""  # the reason of a failure whose connection closes next

    def watch(self, socket: zmq.Socket[Any]) -> None:
        address = f"inproc://bus-monitor-{id(self)}-{len(self._monitors)}"
        socket.monitor(address, self._EVENTS)
        monitor: zmq.Socket[bytes] = self._context.socket(zmq.PAIR, socket_class=zmq.Socket)
        monitor.setsockopt(zmq.LINGER, 0)
        monitor.connect(address)
        self._monitors.append(monitor)

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        poller = zmq.Poller()
        for monitor in self._monitors:
            poller.register(monitor, zmq.POLLIN)
        try:
            while not self._stopping.is_set():
                for monitor, _ in poller.poll(200):
                    self._on_event(recv_monitor_message(monitor))
        except zmq.ZMQError:
            pass  # the context is being torn down
        finally:
            for monitor in self._monitors:
                monitor.close(linger=0)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        value = int(event["value"])
        if kind == zmq.EVENT_ACCEPTED:
            self._peers[value] = _peer_address(value)
        elif kind == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            self._failed = "protocol"  # no CURVE, a wrong server key, a malformed command
        elif kind == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            self._failed = "incomplete"  # the peer went away in the middle
        elif kind == zmq.EVENT_DISCONNECTED:
            address = self._peers.pop(value, "unknown")
            if self._failed:
                reason, self._failed = self._failed, ""
                self._metrics.handshake_failed(address, reason)


def _peer_address(fd: int) -> str:
    """The remote address of a descriptor libzmq owns (read through a duplicate)."""
    try:
        duplicate = stdsocket.socket(fileno=os.dup(fd))
    except OSError:
        return "unknown"
    try:
        peer = duplicate.getpeername()
    except OSError:
        return "unknown"
    finally:
        duplicate.close()
    return peer[0] if isinstance(peer, tuple) else "local"


@dataclass
class _Dialed:
    socket: zmq.Socket[Any]
    endpoint: str
    server: str
    keys: list[bytes] = field(default_factory=list)


class BusSecurity:
    """One process's part in the bus's security: its key pair, the cluster's public keys.

    Building it fails with :class:`transport.keys.KeyFileError` (naming the process and
    the file) when the process's own key is missing or unreadable.
    """

    def __init__(
        self,
        folder: Path,
        process: str,
        admits: Admits,
        domains: list[str],
        enabled: bool = True,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.enabled = enabled
        self.process = process
        self.metrics = BusMetrics(registry)
        self._folder = folder
        self._admits = admits
        self._domains = domains
        self._pair: KeyPair | None = load_pair(folder, process) if enabled else None
        self._allow = AllowList(folder)
        self._stamp = folder_stamp(folder)
        if self._pair is not None and self._pair.public not in self._allow.keys_of(process):
            raise KeyFileError(
                f"the key of {process} in {secret_path(folder, process)} is not one the "
                f"cluster lists for it in {folder / PUBLIC}: no peer would accept it"
            )
        self._dialed: list[_Dialed] = []
        self._authenticator: BusAuthenticator | None = None
        self._watch: HandshakeWatch | None = None

    def start(self, context: zmq.Context[Any]) -> None:
        """Run the ZAP handler (and the handshake watch) for ``context``'s listening
        sockets; call before the first ``serve``."""
        if not self.enabled or self._authenticator is not None:
            return
        self._authenticator = BusAuthenticator(
            context, self._folder, self._admits, self._domains, self.metrics
        )
        self._authenticator.start()
        self._watch = HandshakeWatch(context, self.metrics)

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            if self._watch.is_alive():
                self._watch.join(1.0)
            self._watch = None
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None

    def serve(self, socket: zmq.Socket[Any], domain: str) -> None:
        """Make ``socket`` a CURVE server of ``domain``; call before it binds."""
        if self._pair is None:
            return
        assert self._authenticator is not None and self._watch is not None, "start() first"
        socket.setsockopt(zmq.CURVE_SERVER, 1)
        socket.setsockopt(zmq.CURVE_PUBLICKEY, self._pair.public)
        socket.setsockopt(zmq.CURVE_SECRETKEY, self._pair.secret)
        socket.setsockopt(zmq.ZAP_DOMAIN, domain.encode())
        self._watch.watch(socket)

    def listening(self) -> None:
        """Every listening socket is set up: start counting failed handshakes."""
        if self._watch is not None and not self._watch.is_alive():
            self._watch.start()

    def connect(self, socket: zmq.Socket[Any], endpoint: str, server: str) -> None:
        """Connect ``socket`` to the process ``server`` at ``endpoint``, as this process."""
        if self._pair is None:
            socket.connect(endpoint)
            return
        socket.setsockopt(zmq.CURVE_PUBLICKEY, self._pair.public)
        socket.setsockopt(zmq.CURVE_SECRETKEY, self._pair.secret)
        dialed = _Dialed(socket, endpoint, server)
        self._dial(dialed)
        self._dialed.append(dialed)

    def _dial(self, dialed: _Dialed) -> None:
        keys = self._allow.keys_of(dialed.server)
        if not keys:
            log.error("no public key for a peer", extra={"fields": {"peer": dialed.server}})
        for key in keys:
            dialed.socket.setsockopt(zmq.CURVE_SERVERKEY, key)
            dialed.socket.connect(dialed.endpoint)
        dialed.keys = keys

    def refresh(self) -> bool:
        """Follow a change of the keys folder: dial servers' new keys, drop removed ones.
        True when something changed."""
        if self._pair is None:
            return False
        stamp = folder_stamp(self._folder)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        for dialed in self._dialed:
            if dialed.socket.closed:
                continue
            keys = self._allow.keys_of(dialed.server)
            if keys == dialed.keys:
                continue
            if set(dialed.keys) - set(keys):
                # A key went away: libzmq disconnects an endpoint as a whole, so dial anew.
                dialed.socket.disconnect(dialed.endpoint)
                dialed.keys = []
            for key in keys:
                if key not in dialed.keys:
                    dialed.socket.setsockopt(zmq.CURVE_SERVERKEY, key)
                    dialed.socket.connect(dialed.endpoint)
            dialed.keys = keys
            log.info("peer keys changed", extra={"fields": {"peer": dialed.server}})
        self._dialed = [d for d in self._dialed if not d.socket.closed]
        return True


def sender_of(frame: zmq.Frame) -> str:
    """The process that sent the message ``frame`` belongs to (its ZAP User-Id); "" when
    the connection proved none."""
    try:
        return str(frame.get("User-Id") or "")
    except zmq.ZMQError:
        return ""


def address_of(frame: zmq.Frame | None) -> str:
    if frame is None:
        return "unknown"
    try:
        return str(frame.get("Peer-Address") or "local")
    except zmq.ZMQError:
        return "unknown"


def bus_security(
    config: Config, process: str, domains: list[str], registry: CollectorRegistry | None = None
) -> BusSecurity:
    """The security of ``process`` of ``config``, serving ``domains`` (bourse/peers.py)."""
    return BusSecurity(
        config.keys_dir,
        process,
        admits,
        domains,
        enabled=config.security.curve,
        registry=registry,
    )


__all__ = ["ANYONE", "BusSecurity", "address_of", "bus_security", "sender_of"]
