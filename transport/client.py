"""An asyncio DEALER client: many requests in flight, each answered or failed in time.

Invariants:
- Every request gets a fresh request id and a future; the reader resolves the future
  whose id the reply carries, and ignores a reply nobody waits for (it came too late).
- ``request`` always ends: with the reply body, :class:`Unavailable` at once when no
  peer is connected (ZMQ_IMMEDIATE: nothing is queued for a peer that is not there), or
  :class:`Timeout` when the reply does not come within the timeout.  After either the
  outcome of the request is unknown to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import zmq
import zmq.asyncio

from transport.framing import pack_rid, unpack_rid


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
        self, context: zmq.asyncio.Context, endpoint: str, name: str, timeout_s: float
    ) -> None:
        self.name = name
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._socket = context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.IMMEDIATE, 1)
        self._socket.setsockopt(zmq.SNDHWM, 100_000)
        self._socket.setsockopt(zmq.RCVHWM, 100_000)
        self._socket.setsockopt(zmq.RECONNECT_IVL, 50)
        self._socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        self._socket.connect(endpoint)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(Unavailable(self.name, f"{self.name} client closed"))
        self._pending.clear()
        self._socket.close(linger=0)

    async def request(
        self, body: bytes, timeout_s: float | None = None, trace: bytes = b""
    ) -> bytes:
        self.start()
        rid = next(self._ids)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            try:
                frames = (pack_rid(rid), body, trace) if trace else (pack_rid(rid), body)
                await self._socket.send_multipart(frames, flags=zmq.NOBLOCK)
            except zmq.Again:
                raise Unavailable(self.name, f"{self.name} is not reachable") from None
            try:
                return await asyncio.wait_for(future, timeout_s or self.timeout_s)
            except TimeoutError:
                raise Timeout(self.name, f"{self.name} did not answer in time") from None
        finally:
            self._pending.pop(rid, None)

    async def _read(self) -> None:
        while True:
            frames = await self._socket.recv_multipart()
            if len(frames) != 2:
                continue
            rid = unpack_rid(frames[0])
            future = self._pending.get(rid) if rid is not None else None
            if future is not None and not future.done():
                future.set_result(frames[1])
