"""A blocking DEALER for tools, tests and benchmarks: one request, one reply, a deadline.

Invariants:
- ``call`` sends one request with a fresh request id and returns the reply that carries
  that id, decoded as the type asked for; replies to earlier requests (that came late)
  are skipped.  It raises :class:`TimeoutError` when none comes within the deadline, or
  when no server is connected by then (it dials every instance of a pair, and only the
  leader listens: ``ZMQ_IMMEDIATE`` sends to connected ones only).
- The socket never lingers: closing it drops whatever was not sent.
- It speaks as the process its :class:`BusSecurity` holds the key of (for tools, the
  ``operator``), to the process it is named after.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import zmq

from transport.framing import MAX_REPLY_MESSAGE, pack_rid, unpack_rid
from transport.liveness import keep_alive
from transport.security import BusSecurity


class BlockingClient:
    def __init__(
        self, context: zmq.Context[Any], servers: list[tuple[str, str]], security: BusSecurity
    ) -> None:
        """A client dialing each of ``servers`` (endpoint and process name)."""
        self._socket: zmq.Socket[bytes] = context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.IMMEDIATE, 1)
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_MESSAGE)
        keep_alive(self._socket)
        for endpoint, server in servers:
            security.connect(self._socket, endpoint, server)
        self._rid = 0
        self._encoder = msgspec.msgpack.Encoder()

    def raw(self, frames: list[bytes], timeout_s: float = 5.0) -> list[bytes]:
        """Send ``frames`` as they are and return the next message, whatever it is."""
        self._send(frames, timeout_s)
        if not self._socket.poll(int(timeout_s * 1000)):
            raise TimeoutError("no reply")
        return self._socket.recv_multipart()

    def _send(self, frames: list[bytes], timeout_s: float) -> None:
        # ZMQ_IMMEDIATE: writable only once a server is connected (of a pair, its leader).
        if not self._socket.poll(int(timeout_s * 1000), zmq.POLLOUT):
            raise TimeoutError("no server connected")
        self._socket.send_multipart(frames, zmq.NOBLOCK)

    def call(self, message: object, reply_type: Any, timeout_s: float = 5.0) -> Any:
        self._rid += 1
        deadline = time.monotonic() + timeout_s
        self._send([pack_rid(self._rid), self._encoder.encode(message)], timeout_s)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._socket.poll(int(left * 1000)):
                raise TimeoutError(f"no reply to {type(message).__name__}")
            frames = self._socket.recv_multipart()
            if len(frames) == 2 and unpack_rid(frames[0]) == self._rid:
                return msgspec.msgpack.decode(frames[1], type=reply_type)

    def ask(self, message: object, reply_type: Any, timeout_s: float) -> Any:
        """Like ``call``, but None instead of an error when no valid reply comes."""
        try:
            return self.call(message, reply_type, timeout_s)
        except (TimeoutError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    def close(self) -> None:
        self._socket.close(linger=0)
