"""One WebSocket connection's outbound side: a bounded queue in front of the socket.

Invariants:
- A message is framed once (:class:`Frame`: an unmasked, unfragmented, uncompressed text
  frame, the same bytes for every connection) and leaves each connection as that one
  frame, in the order it was pushed.
- While the socket takes data (the transport is below its write high-water mark and
  nothing is queued), pushes join the connection's batch for this event-loop tick, and the
  :class:`Flusher` writes each batch with one ``transport.write`` at the end of the tick:
  one system call per connection per tick however many messages it carries.
- Otherwise pushes queue, and one writer task drains the queue as the socket allows.
  The queue never holds more than ``limit`` messages: a push that finds it full returns
  False and the caller closes the connection as a slow consumer.  Closing drops the batch
  and the queue at once and queues close code 1008 "slow consumer" behind what the
  socket already holds, so a client that reads again receives that close frame; the TCP
  connection is aborted only if the closing handshake has not finished within
  ``close_timeout_s`` (the library's own close timeout is set to the same for this
  connection).  So a connection's memory is bounded by ``limit`` messages, one tick's
  output and the transport's write limit, and after the close by the write limit alone.
- Frames are written only while the protocol is OPEN, so nothing follows a close frame;
  websockets' own control frames (ping, pong, close) are whole frames too, so they
  interleave with ours at frame boundaries only.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import deque

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

SLOW_CONSUMER_CODE = 1008
SLOW_CONSUMER_REASON = "slow consumer"

_OPEN = State.OPEN
_TEXT_FIN = 0x81


class Frame:
    """One encoded message and its WebSocket text frame, shared by every receiver."""

    __slots__ = ("frame", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", _TEXT_FIN, size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", _TEXT_FIN, 126, size)
        else:
            head = struct.pack("!BBQ", _TEXT_FIN, 127, size)
        self.frame = head + payload


class Flusher:
    """Writes every connection's batch once, at the end of the event-loop tick."""

    def __init__(self) -> None:
        self._dirty: list[Outbound] = []
        self._scheduled = False

    def add(self, outbound: Outbound) -> None:
        self._dirty.append(outbound)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for outbound in dirty:
            outbound.flush()


class Outbound:
    __slots__ = (
        "_batch",
        "_close_timeout_s",
        "_closer",
        "_conn",
        "_flusher",
        "_limit",
        "_queue",
        "_writer",
        "closing",
    )

    def __init__(
        self, conn: ServerConnection, limit: int, close_timeout_s: float, flusher: Flusher
    ) -> None:
        self._conn = conn
        self._limit = limit
        self._close_timeout_s = close_timeout_s
        self._flusher = flusher
        self._batch: list[bytes] = []
        self._queue: deque[bytes] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.closing = False

    @property
    def queued(self) -> int:
        return len(self._batch) + len(self._queue)

    def push(self, frame: Frame) -> bool:
        """Send ``frame`` this tick or queue it; False when full (a slow consumer)."""
        if self.closing:
            return True
        conn = self._conn
        if conn.protocol.state is not _OPEN:
            return True
        batch = self._batch
        if self._queue or (conn.paused and not batch):
            if len(self._queue) >= self._limit:
                return False
            self._queue.append(frame.payload)
            if self._writer is None:
                self._writer = asyncio.get_running_loop().create_task(self._drain())
            return True
        if not batch:
            self._flusher.add(self)
        batch.append(frame.frame)
        return True

    def flush(self) -> None:
        batch = self._batch
        if not batch:
            return
        self._batch = []
        conn = self._conn
        if self.closing or conn.protocol.state is not _OPEN:
            return
        conn.transport.write(batch[0] if len(batch) == 1 else b"".join(batch))

    async def _drain(self) -> None:
        conn = self._conn
        queue = self._queue
        try:
            while queue:
                await conn.send(queue.popleft(), text=True)
        except ConnectionClosed:
            queue.clear()
        finally:
            self._writer = None

    def close_slow(self) -> None:
        """Drop what is waiting and close with 1008 "slow consumer"."""
        if self.closing:
            return
        self.closing = True
        self._batch.clear()
        self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.get_running_loop().create_task(
            self._close(SLOW_CONSUMER_CODE, SLOW_CONSUMER_REASON)
        )

    async def _close(self, code: int, reason: str) -> None:
        conn = self._conn
        # The client reads the close frame only after what it left unread: give it the
        # whole timeout, not the library's shorter one for a client that reads.
        conn.close_timeout = self._close_timeout_s
        try:
            async with asyncio.timeout(self._close_timeout_s):
                await conn.close(code, reason)
        except TimeoutError:
            conn.transport.abort()

    async def aclose(self) -> None:
        """Stop the writer; used when the connection's handler ends."""
        self.closing = True
        self._batch.clear()
        self._queue.clear()
        for task in (self._writer, self._closer):
            if task is not None and not task.done():
                if task is self._writer:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
