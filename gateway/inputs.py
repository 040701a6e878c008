"""What the gateway refuses of a request before a route sees it: a path no file or route
can have, a JSON body nested deeper than ``gateway.max_json_depth``.

Invariants:
- A path holding a control character (NUL included, however it was escaped) is
  answered 400 INVALID_FIELD naming ``path``: no route or UI file has one, and file
  system calls refuse a NUL with an exception.
- A JSON body is checked for depth (``bourse.jsondepth``) before it is parsed, so the
  parser never recurses past the limit: deeper is 400 INVALID_FIELD naming ``body``.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from bourse.jsondepth import nests_deeper
from gateway.errors import encode_error, invalid, send_error

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
        async def json(self) -> Any:
            if nests_deeper(await self.body(), max_json_depth):
                raise invalid("body", f"the body nests deeper than {max_json_depth} levels")
            return await super().json()

    return BoundedRequest
