"""One client connection to a gateway worker: uvicorn's httptools protocol, bounded.

uvicorn with httptools bounds only the idle time between two requests (its keep-alive
timeout, armed after a response).  httptools has no limit on a head's size or its
number of headers (it joins a header's pieces with ``bytes +=``), and uvicorn has no
timeout before a first request, for a head or for a body, and no cap on connections
(``limit_concurrency`` answers 503 once the head is in, after the cost).  This subclass
adds them in the same process, on the same parser, at no cost to a request that keeps
them: a request that arrives in one read takes no timer and one parser call.

Invariants:
- A connection takes a slot from its worker's :class:`ConnectionLimits` when it opens
  (at most ``max_connections``, at most ``max_connections_per_address`` from one
  address) and is closed at once when it gets none.
- At most ``max_header_bytes`` of a head (request line and headers) reach the parser:
  past that, or past ``max_headers`` headers, the answer is 431 and the connection
  closes.  So a head costs at most that much memory whatever the client sends.  (A
  head that starts in the same read as the end of the request before it is counted from
  the next read: it may reach twice the limit, never more.)
- Time: a new connection sends its first head within ``header_timeout``; a head ends
  within ``header_timeout`` of its first byte, a body within ``body_timeout`` of its
  head; a response the client does not read for ``body_timeout`` is abandoned; between
  requests the keep-alive timeout applies (bytes that begin no request do not restart
  it).  A late head or body is answered 408 when nothing else is being answered, and
  the connection closes.
- Only a WebSocket upgrade of ``WS_PATH`` (order entry) is handed to the WebSocket
  protocol, after the same head limits; any other upgrade request is answered as a plain
  request.  The connection's slot goes with it (:class:`~gateway.ws.protocol.
  BoundedWebSocketProtocol` gives it back when it closes) and this protocol's timers
  stop.
- Every refusal is counted in the worker's ``/metrics`` (``httpmetrics.refused``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httptools
import msgspec
from uvicorn.config import Config as UvicornConfig
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from bourse.config import Config
from bourse.throttle import ConnectionSlots
from gateway import httpmetrics
from gateway.errors import ErrorBody
from gateway.ws.protocol import WS_PATH, BoundedWebSocketProtocol

_encode = msgspec.json.Encoder().encode


@dataclass
class ConnectionLimits:
    """A worker's limits and the slots its connections hold.  Built in the parent and
    copied into each worker process, so each worker counts its own connections."""

    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    body_timeout_s: float
    slots: ConnectionSlots = field(repr=False)

    @classmethod
    def of(cls, config: Config, max_connections: int) -> ConnectionLimits:
        gateway = config.raw.gateway
        return cls(
            max_header_bytes=gateway.max_header_bytes,
            max_headers=gateway.max_headers,
            header_timeout_s=gateway.header_timeout_ms / 1000,
            body_timeout_s=gateway.body_timeout_ms / 1000,
            slots=ConnectionSlots(
                max_connections, min(max_connections, gateway.max_connections_per_address)
            ),
        )


class _TooManyHeaders(Exception):
    pass


def _refusal(status: int, phrase: str, code: str, message: str) -> bytes:
    body = _encode(ErrorBody(code, message))
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


_TOO_LARGE = "Request Header Fields Too Large"
_HEAD_TOO_LARGE = _refusal(431, _TOO_LARGE, "HEADERS_TOO_LARGE", "the headers are too large")
_TOO_MANY_HEADERS = _refusal(431, _TOO_LARGE, "HEADERS_TOO_LARGE", "there are too many headers")
_WS_PATH = WS_PATH.encode()
_TOO_SLOW = _refusal(408, "Request Timeout", "REQUEST_TIMEOUT", "the request came too slowly")


class BoundedHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: UvicornConfig,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._max_head = limits.max_header_bytes
        self._address: str | None = None  # set while this connection holds a slot
        self._in_message = False  # from a message's first byte to its last
        self._in_head = False  # from a message's first byte to its last header
        self._head_bytes = 0  # bytes of the current head fed to the parser
        self._begin_credit = 0  # what a head that begins in the current piece starts at
        self._piece_len = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None
        self._upgrade: bool | None = None  # whether this request's upgrade is served

    # --- connection -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        refused = self.limits.slots.take(address)
        if refused is not None:
            httpmetrics.refused(refused)
            transport.abort()
            return
        self._address = address
        self._arm(self._head_timed_out, self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None
        if self._address is not None:
            self.limits.slots.give_back(self._address)
            self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        limit = self._max_head
        if len(data) <= (limit - self._head_bytes if self._in_head else limit):
            pieces: Iterable[bytes | memoryview] = (data,)  # the common case: one piece
        else:
            pieces = self._pieces(memoryview(data))
        for piece in pieces:
            size = self._piece_len = len(piece)
            self._begin_credit = -size if self._in_message else 0
            if not self._feed(piece):
                return
            if self._in_head:
                self._head_bytes += size
                if self._head_bytes >= limit:
                    self._refuse(_HEAD_TOO_LARGE, "max_header_bytes")
                    return
        if self._deadline is None and not self.transport.is_closing():
            if self._in_head:
                self._arm(self._head_timed_out, self.limits.header_timeout_s)
            elif self._in_message:
                self._arm(self._body_timed_out, self.limits.body_timeout_s)

    def _pieces(self, view: memoryview) -> Iterator[memoryview]:
        """``view`` in pieces no longer than the current head may still grow by, each
        measured after the one before was parsed."""
        limit = self._max_head
        while view:
            room = limit - self._head_bytes if self._in_head else limit
            yield view[:room]
            view = view[room:]

    def _feed(self, piece: bytes | memoryview) -> bool:
        """One piece to the parser; False once the connection is being closed."""
        try:
            self.parser.feed_data(piece)
        except httptools.HttpParserError as error:
            # An exception in a callback comes back as HttpParserCallbackError, chained.
            if isinstance(error.__context__, _TooManyHeaders):
                self._refuse(_TOO_MANY_HEADERS, "max_headers")
            else:
                httpmetrics.refused("malformed")
                self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self._upgrade_to_websocket()
            # Otherwise the request was answered as a plain one, and the rest of this
            # read is dropped.
            return False
        return not self.transport.is_closing()

    def _should_upgrade(self) -> bool:
        """A WebSocket upgrade of the order entry path, and of nothing else."""
        if self._upgrade is None:
            self._upgrade = HttpToolsProtocol._should_upgrade(self) and self._upgrades_path()
        return self._upgrade

    def _upgrades_path(self) -> bool:
        try:
            return bool(httptools.parse_url(self.url).path == _WS_PATH)
        except httptools.HttpParserInvalidURLError:
            return False

    def _upgrade_to_websocket(self) -> None:
        self._disarm()
        self.handle_websocket_upgrade()
        protocol = self.transport.get_protocol()
        if isinstance(protocol, BoundedWebSocketProtocol) and self._address is not None:
            protocol.hold_slot(self.limits.slots, self._address)
            self._address = None

    # --- parser callbacks -----------------------------------------------------------------

    # The base class is named, not found through super(): these run once per request.

    def on_message_begin(self) -> None:
        if self.timeout_keep_alive_task is not None:  # a request: no longer idle
            self._unset_keepalive_if_required()
        HttpToolsProtocol.on_message_begin(self)
        self._upgrade = None
        self._in_message = self._in_head = True
        self._head_bytes = self._begin_credit
        self._begin_credit = -self._piece_len

    def on_headers_complete(self) -> None:
        # The head's bytes are bounded already, so its headers are counted once, here.
        if len(self.headers) > self.limits.max_headers:
            raise _TooManyHeaders
        self._in_head = False
        if self._deadline is not None:
            self._disarm()
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        self._in_message = False
        if self._deadline is not None:
            self._disarm()
        HttpToolsProtocol.on_message_complete(self)

    # --- writing ---------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(
                self.limits.body_timeout_s, self._write_timed_out
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _write_timed_out(self) -> None:
        self._write_deadline = None
        httpmetrics.refused("write_timeout")
        self.transport.abort()

    # --- deadlines -------------------------------------------------------------------------

    def _arm(self, callback: Any, delay_s: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay_s, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _head_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        httpmetrics.refused("header_timeout")
        if self._answering():
            self.cycle.keep_alive = False  # a pipelined head: close after this answer
        elif self._in_head:
            self._refuse(_TOO_SLOW, None)
        else:
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        httpmetrics.refused("body_timeout")
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            # The app still waits for the body: it is told the client is gone.
            cycle.disconnected = True
            cycle.message_event.set()
            self._refuse(_TOO_SLOW, None)
        elif self._answering():
            self.cycle.keep_alive = False
        else:
            self.transport.close()

    def _refuse(self, answer: bytes, reason: str | None) -> None:
        if reason is not None:
            httpmetrics.refused(reason)
        self._disarm()
        self.transport.write(answer)
        self.transport.close()
