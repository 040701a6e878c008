"""The request id: taken from ``X-Request-Id`` (or made), answered back, carried to the
actors as a frame of every request the call makes, and written in the logs.

Invariants: an id is 1-64 printable ASCII characters without spaces; a client's id that
is not is replaced by a fresh one, never passed on.  The middleware wraps the whole
app (gateway/app.py ``asgi_app``), not just its routes, so every answer carries the id
used, 404 and 405 for a path or method no route takes included (Litestar answers those
before any app middleware runs), and every request is counted and timed: those under
``UNROUTED``.
A made id is this worker's random prefix and a counter: unique without a system call.
The same middleware records the request's route, status and time (gateway/httpmetrics.py).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from contextvars import ContextVar

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway import httpmetrics
from transport.framing import valid_trace

log = logging.getLogger("gateway")

HEADER = b"x-request-id"
current: ContextVar[bytes] = ContextVar("request_id", default=b"")
UNROUTED = "<unrouted>"  # the metrics' path for a request no route took: never the raw path
_PREFIX = os.urandom(4).hex()
_COUNTER = itertools.count(1)


def made_id() -> bytes:
    return f"{_PREFIX}{next(_COUNTER):08x}".encode()


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER, b"")
        request_id = given if valid_trace(given) else made_id()
        token = current.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id)]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            current.reset(token)
            elapsed = time.perf_counter() - started
            httpmetrics.record(
                scope["method"], scope.get("path_template", UNROUTED), status, elapsed
            )
            level = logging.WARNING if status >= 500 else logging.DEBUG
            if log.isEnabledFor(level):
                log.log(
                    level,
                    "request",
                    extra={
                        "fields": {
                            "request_id": request_id.decode(),
                            "method": scope.get("method"),
                            "path": scope.get("path"),
                            "status": status,
                            "ms": round(elapsed * 1000, 3),
                        }
                    },
                )

    return middleware
