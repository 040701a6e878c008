"""What the gateway refuses of a request before a route sees it: a path no file or route
can have, a JSON body nested deeper than ``gateway.max_json_depth``.

Invariants:
- A path holding a control character (NUL included, however it was escaped) is
  answered 400 INVALID_FIELD naming ``path``: no route or UI file has one, and file
  system calls refuse a NUL with an exception.
- A JSON body is checked for depth (``bourse.jsondepth``) before it is parsed, so the
  parser never recurses past the limit: deeper is 400 INVALID_FIELD naming ``body``.
- A body that stops before its end (the client left, or the connection's body timeout
  cut it off) is 408 REQUEST_TIMEOUT, not a server error: nobody reads that answer, but
  the metrics and the log tell it apart from a fault of ours.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import InternalServerException
from litestar.types import ASGIApp, Receive, Scope, Send

from bourse.jsondepth import nests_deeper
from gateway.errors import ApiError, encode_error, invalid, send_error

_CONTROL = re.compile("[\x00-\x1f\x7f]")
_BAD_PATH = encode_error("INVALID_FIELD", "the path holds a control character", "path")


def refuse_bad_paths(app: ASGIApp) -> ASGIApp:
    async def guard(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and _CONTROL.search(scope["path"]):
            await send_error(send, 400, _BAD_PATH)
            return
        await app(scope, receive, send)

    return guard


def bounded_request_class(max_json_depth: int) -> type[Request[Any, Any, Any]]:
    """Litestar's request whose ``json()`` refuses a body nested past ``max_json_depth``."""

    class BoundedRequest(Request[Any, Any, Any]):
        async def body(self) -> bytes:
            try:
                return await super().body()
            except InternalServerException as error:
                # Litestar's answer to an http.disconnect before the body's end.
                if "disconnected" not in str(error.detail):
                    raise
                raise ApiError(408, "REQUEST_TIMEOUT", "the body did not arrive whole") from None

        async def json(self) -> Any:
            if nests_deeper(await self.body(), max_json_depth):
                raise invalid("body", f"the body nests deeper than {max_json_depth} levels")
            return await super().json()

    return BoundedRequest
