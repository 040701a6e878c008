"""One order entry WebSocket connection at the transport: uvicorn's sans-I/O websockets
protocol, bounded.

uvicorn hands a WebSocket upgrade from the HTTP protocol to this one (see
``gateway.http_protocol``, which upgrades ``WS_PATH`` only, after its head limits).

Invariants:
- The connection keeps the slot its HTTP protocol took (``ConnectionSlots``) until it is
  lost, so WebSocket connections count against the same per-worker and per-address
  limits as every other.
- A message past ``gateway.ws_max_message_bytes`` closes the connection with 1009 (the
  websockets library, before buffering it whole); permessage-deflate is off, so a
  message costs its size.  Reading pauses after each message until the app takes it,
  so what waits inbound is bounded by one read of the socket.
- A client that stops reading: once the transport's buffer is full, it has
  ``gateway.body_timeout_ms`` to read again before the connection is aborted (and
  every answer waiting to be sent fails at once).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config as UvicornConfig
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from bourse.throttle import ConnectionSlots
from gateway import httpmetrics

WS_PATH = "/api/v1/ws"


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(
        self,
        config: UvicornConfig,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        write_timeout_s: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._write_timeout_s = write_timeout_s
        self._write_deadline: asyncio.TimerHandle | None = None
        self._slots: ConnectionSlots | None = None
        self._address = ""

    def hold_slot(self, slots: ConnectionSlots, address: str) -> None:
        """Keep the connection slot the HTTP protocol took, until the connection ends."""
        self._slots, self._address = slots, address

    def connection_lost(self, exc: Exception | None) -> None:
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None
        if self._slots is not None:
            self._slots.give_back(self._address)
            self._slots = None
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(self._write_timeout_s, self._stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _stalled(self) -> None:
        self._write_deadline = None
        httpmetrics.refused("ws_write_timeout")
        self.transport.abort()
