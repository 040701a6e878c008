"""An asyncio DEALER client: many requests in flight, each answered or failed in time.

Invariants:
- Every request gets a fresh request id, a future and a timer; the reader resolves the
  future whose id the reply carries, and drops a reply nobody waits for (it came late).
  Replies may come one per message or several in a message of envelopes.
- Requests made in the same pass of the event loop leave together, in the order they
  were made, as one message of envelopes (transport/framing.py) when there are several:
  a peer under load then reads, journals and answers them as one batch.
- ``request`` always ends: with the reply body, :class:`Unavailable` at once when no
  peer is connected (ZMQ_IMMEDIATE: nothing is queued for a peer that is not there), or
  :class:`Timeout` when the reply does not come within the timeout.  After either the
  outcome of the request is unknown to the caller.
- The socket is a plain one driven by the event loop: its descriptor is edge-triggered,
  so the reader drains every waiting reply, and a send (which may take in the socket's
  pending events) is followed by a check for replies it would otherwise hide.  Sends
  never wait: the high-water mark is far above what the callers keep in flight.
- It is a CURVE client of the process it is named after (transport/security.py): it
  reaches that process only, and only as the process its security holds the key of.
- Once started, it logs ``peer up`` / ``peer down`` when its peer's connection comes or
  goes (looked at every ``PEER_CHECK_S``), as the actors' runtime does for its DEALERs.
  Every read of the socket's events (the send, the peer check) is followed by a drain
  when replies wait: such a read may consume the descriptor's edge.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, cast

import zmq

from transport.framing import (
    MAX_REPLY_MESSAGE,
    Envelope,
    messages,
    recv_frames_nowait,
    send_frames,
    unpack_message,
    valid_trace,
)
from transport.liveness import keep_alive, socket_events
from transport.security import BusSecurity

log = logging.getLogger("client")

PEER_CHECK_S = 0.25

_NOBLOCK = int(zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)
_POLLOUT = int(zmq.POLLOUT)
_EVENTS = int(zmq.EVENTS)


class RequestError(Exception):
    def __init__(self, target: str, message: str) -> None:
        super().__init__(message)
        self.target = target


class Unavailable(RequestError):
    pass


class Timeout(RequestError):
    pass


class DealerClient:
    def __init__(
        self,
        context: zmq.Context[Any],
        servers: list[tuple[str, str]],
        name: str,
        timeout_s: float,
        security: BusSecurity,
    ) -> None:
        """A client of ``name`` (bourse/peers.py), dialing each of ``servers`` (endpoint
        and process: the instances of a pair, of which only the leader listens)."""
        self.name = name
        self.timeout_s = timeout_s
        socket: zmq.Socket[bytes] = zmq.Socket(context, zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.IMMEDIATE, 1)
        socket.setsockopt(zmq.SNDHWM, 100_000)
        socket.setsockopt(zmq.RCVHWM, 100_000)
        socket.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_MESSAGE)
        keep_alive(socket)
        for endpoint, process in servers:
            security.connect(socket, endpoint, process)
        self._socket = socket
        self._fd = cast(int, socket.getsockopt(zmq.FD))
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._outgoing: list[Envelope] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._up = False
        self._peer_check: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._fd, self._drain)
            self._check_peer()

    @property
    def connected(self) -> bool:
        """Whether a peer was connected when last looked at."""
        return self._up

    def _check_peer(self) -> None:
        if self._loop is None:
            return
        try:
            events = socket_events(self._socket)
        except zmq.ZMQError:
            return  # closed under us
        if events & _POLLIN:
            # Reading the events took in waiting replies and, with them, the descriptor's
            # edge: nothing else would wake the reader for them.
            self._drain()
        up = bool(events & _POLLOUT)
        if up != self._up:
            self._up = up
            log.info("peer up" if up else "peer down", extra={"fields": {"peer": self.name}})
        self._peer_check = self._loop.call_later(PEER_CHECK_S, self._check_peer)

    async def close(self) -> None:
        if self._peer_check is not None:
            self._peer_check.cancel()
            self._peer_check = None
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(Unavailable(self.name, f"{self.name} client closed"))
        self._pending.clear()
        self._socket.close(linger=0)

    async def request(
        self, body: bytes, timeout_s: float | None = None, trace: bytes = b""
    ) -> bytes:
        self.start()
        loop = self._loop
        assert loop is not None
        rid = next(self._ids)
        if trace and not valid_trace(trace):
            trace = b""  # it only names the request in the logs; never let it spoil a batch
        if not self._outgoing:
            loop.call_soon(self._send_outgoing)
        self._outgoing.append(Envelope(rid, body, trace))
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending[rid] = future
        timer = loop.call_later(timeout_s or self.timeout_s, self._expire, rid)
        try:
            return await future
        finally:
            timer.cancel()
            self._pending.pop(rid, None)

    def _send_outgoing(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if not outgoing or self._loop is None:
            return  # nothing to send, or closed since: close() failed their futures
        socket = self._socket
        try:
            for frames, _ in messages(outgoing):
                send_frames(socket, frames, _NOBLOCK)
        except zmq.Again:
            # ZMQ_IMMEDIATE: no peer is connected, so nothing was queued for one.
            self._fail(outgoing, Unavailable(self.name, f"{self.name} is not reachable"))
        except zmq.ZMQError:
            self._fail(outgoing, Unavailable(self.name, f"{self.name} client closed"))
            return
        if cast(int, socket.getsockopt(_EVENTS)) & _POLLIN:
            self._drain()

    def _fail(self, envelopes: list[Envelope], error: RequestError) -> None:
        for envelope in envelopes:
            future = self._pending.pop(envelope.rid, None)
            if future is not None and not future.done():
                future.set_exception(error)

    def _expire(self, rid: int) -> None:
        future = self._pending.pop(rid, None)
        if future is not None and not future.done():
            future.set_exception(Timeout(self.name, f"{self.name} did not answer in time"))

    def _drain(self) -> None:
        socket = self._socket
        pending = self._pending
        while True:
            try:
                frames = recv_frames_nowait(socket)
            except zmq.Again:
                return
            except zmq.ZMQError:
                return  # the socket was closed under us
            for envelope in unpack_message(frames) or ():
                future = pending.get(envelope.rid)
                if future is not None and not future.done():
                    future.set_result(envelope.body)


async def follow_keys(security: BusSecurity, period_s: float = 1.0) -> None:
    """Apply changes of the keys folder (a rotation) to ``security``'s connections, as
    the actors' runtime does each second; runs until cancelled."""
    while True:
        await asyncio.sleep(period_s)
        security.refresh()
