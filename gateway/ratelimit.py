"""Rate limiting: a token bucket per API key, per client address for calls without one.

Invariants:
- A bucket holds at most ``burst`` tokens and gains ``rate`` a second; a request takes
  one token or is answered 429 RATE_LIMITED with ``Retry-After`` (whole seconds).
- The bucket is chosen by the bearer token as sent (a wrong secret does not drain its
  user's bucket), else by the peer address of the connection (no forwarded-for header is
  trusted: the gateway faces clients directly).
- Memory is bounded: a full bucket is the same as no bucket, so full ones are dropped
  when the table grows past ``max_buckets``; past that, the oldest are dropped.
- Each worker process limits on its own; with k workers a key gets up to k times the
  rate.  Only ``/api/`` paths are limited: the UI and the schema are static.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from gateway.auth import parse_bearer
from gateway.errors import ErrorBody

_API_PREFIX = "/api/"
_AUTHORIZATION = b"authorization"


class TokenBuckets:
    def __init__(
        self,
        rate: float,
        burst: int,
        max_buckets: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_buckets = max_buckets
        self._clock = clock
        # key -> (tokens, time they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 when granted, else the seconds until one is due."""
        now = self._clock()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self.rate

    def _store(self, key: str, tokens: float, now: float) -> None:
        buckets = self._buckets
        if key not in buckets and len(buckets) >= self.max_buckets:
            self._prune(now)
        buckets[key] = (tokens, now)

    def _prune(self, now: float) -> None:
        buckets = self._buckets
        full = [
            key
            for key, (tokens, then) in buckets.items()
            if tokens + (now - then) * self.rate >= self.burst
        ]
        for key in full:
            del buckets[key]
        if len(buckets) >= self.max_buckets:
            for key in list(buckets)[: len(buckets) // 2]:
                del buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


_LIMITED_BODY = msgspec.json.encode(ErrorBody("RATE_LIMITED", "too many requests: slow down"))


class RateLimitMiddleware:
    """ASGI middleware in front of every route: refuses before any parsing happens."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not scope["path"].startswith(_API_PREFIX):
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(_bucket_key(scope))
        if wait == 0.0:
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_LIMITED_BODY)).encode()),
                    (b"retry-after", str(max(1, math.ceil(wait))).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _LIMITED_BODY, "more_body": False})


def _bucket_key(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == _AUTHORIZATION:
            token = parse_bearer(value.decode("latin-1"))
            if token is not None:
                return "key:" + token
            break
    client = scope.get("client")
    return "addr:" + (client[0] if client else "")
