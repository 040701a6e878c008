"""An asyncio DEALER client: many requests in flight, each answered or failed in time.

Invariants:
- Every request gets a fresh request id, a future and a timer; the reader resolves the
  future whose id the reply carries, and drops a reply nobody waits for (it came late).
- ``request`` always ends: with the reply body, :class:`Unavailable` at once when no
  peer is connected (ZMQ_IMMEDIATE: nothing is queued for a peer that is not there), or
  :class:`Timeout` when the reply does not come within the timeout.  After either the
  outcome of the request is unknown to the caller.
- The socket is a plain one driven by the event loop: its descriptor is edge-triggered,
  so the reader drains every waiting reply, and a send (which may take in the socket's
  pending events) is followed by a check for replies it would otherwise hide.  Sends
  never wait: the high-water mark is far above what the callers keep in flight.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, cast

import zmq

from transport.framing import pack_rid, recv_frames_nowait, unpack_rid

_SEND_MORE = int(zmq.SNDMORE | zmq.NOBLOCK)
_SEND_LAST = int(zmq.NOBLOCK)
_POLLIN = int(zmq.POLLIN)
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
        self, context: zmq.Context[Any], endpoint: str, name: str, timeout_s: float
    ) -> None:
        self.name = name
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        socket: zmq.Socket[bytes] = zmq.Socket(context, zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.IMMEDIATE, 1)
        socket.setsockopt(zmq.SNDHWM, 100_000)
        socket.setsockopt(zmq.RCVHWM, 100_000)
        socket.setsockopt(zmq.RECONNECT_IVL, 50)
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        socket.connect(endpoint)
        self._socket = socket
        self._fd = cast(int, socket.getsockopt(zmq.FD))
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._fd, self._drain)

    async def close(self) -> None:
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
        socket = self._socket
        try:
            socket.send(pack_rid(rid), _SEND_MORE)
        except zmq.Again:
            raise Unavailable(self.name, f"{self.name} is not reachable") from None
        if trace:
            socket.send(body, _SEND_MORE)
            socket.send(trace, _SEND_LAST)
        else:
            socket.send(body, _SEND_LAST)
        if cast(int, socket.getsockopt(_EVENTS)) & _POLLIN:
            loop.call_soon(self._drain)
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending[rid] = future
        timer = loop.call_later(timeout_s or self.timeout_s, self._expire, rid)
        try:
            return await future
        finally:
            timer.cancel()
            self._pending.pop(rid, None)

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
            if len(frames) != 2:
                continue
            rid = unpack_rid(frames[0])
            future = pending.get(rid) if rid is not None else None
            if future is not None and not future.done():
                future.set_result(frames[1])
