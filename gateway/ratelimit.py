"""Rate limits keyed on who the caller really is; failed authentications slowed, then refused.

Invariants:
- Every ``/api/`` call takes one token from exactly one bucket before anything is parsed
  (token buckets of ``bourse.throttle``), or is answered 429 RATE_LIMITED with
  ``Retry-After`` (whole seconds).  The bucket:
  - a route that takes a key (its OpenAPI security names one), called with a
    well-formed user key: that user id's bucket (``exchange.rate_limit_*``), given back
    when the answer is 401, so a wrong secret never drains the real user's allowance;
  - with the admin key: the client address's admin bucket (``gateway.admin_*``) (an
    admin key written like a user's key would count as that user's);
  - sign-up (the route marked ``opt={BUDGET: SIGNUP}``): the address's sign-up bucket
    (``gateway.signup_*``) whatever the header says;
  - anything else (public routes whatever the header, a key that cannot be one): the
    address's bucket (``exchange.rate_limit_*``).
- A 401 answered to a request that sent a token is a failed authentication from its
  address (``bourse.throttle.AuthFailures``): past ``auth_failures.slow_after`` the
  answer is held back ``delay_ms``; from ``block_after`` on, every request from the
  address that sends a token is answered 429 with ``Retry-After`` until the block ends,
  before its key is looked at (a right guess is refused too).
- The address is the client's (``gateway.clientaddr``: the socket's peer, or what a
  trusted proxy forwarded).  Memory is bounded by the tables' own bounds.
- Each worker process limits on its own; with k workers a key gets up to k times the
  rate.  Only ``/api/`` paths are limited: the UI and the schema are static.
- Every refusal and failure is counted in ``/metrics`` (``httpmetrics.refused``).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from bourse.config import Config
from bourse.throttle import AuthFailures, TokenBuckets
from gateway import httpmetrics
from gateway.auth import Authenticator, parse_bearer
from gateway.clientaddr import ClientAddresses
from gateway.errors import encode_error, send_error

BUDGET = "budget"  # the route option naming a budget of its own
SIGNUP = "signup"

_API_PREFIX = "/api/"
_AUTHORIZATION = b"authorization"
_LIMITED_BODY = encode_error("RATE_LIMITED", "too many requests: slow down")
_BLOCKED_BODY = encode_error(
    "RATE_LIMITED", "too many failed authentications from this address: wait"
)


class Budgets:
    """A worker's buckets and its record of failed authentications."""

    def __init__(self, config: Config) -> None:
        exchange, gateway, failures = config.exchange, config.raw.gateway, config.raw.auth_failures
        self.auth = Authenticator(config)
        self.clients = ClientAddresses(config)
        self.users = TokenBuckets(
            exchange.rate_limit_per_s, exchange.rate_limit_burst, "rate_limited_user"
        )
        self.addresses = TokenBuckets(
            exchange.rate_limit_per_s, exchange.rate_limit_burst, "rate_limited_address"
        )
        self.signups = TokenBuckets(
            gateway.signup_per_s, gateway.signup_burst, "rate_limited_signup"
        )
        self.admins = TokenBuckets(gateway.admin_per_s, gateway.admin_burst, "rate_limited_admin")
        self.failures = AuthFailures(
            failures.slow_after,
            failures.block_after,
            failures.delay_ms / 1000,
            failures.block_ms / 1000,
            failures.forget_ms / 1000,
        )

    def bucket(self, handler: Any, token: str | None, address: str) -> tuple[TokenBuckets, str]:
        """The bucket a call takes its token from, and the bucket's key."""
        if token is not None:
            user_id = self.auth.claimed_user(token)
            if user_id is None:
                if self.auth.is_admin_key(token):
                    return self.admins, address
            elif handler.resolve_security():
                return self.users, str(user_id)
        if handler.opt.get(BUDGET) == SIGNUP:
            return self.signups, address
        return self.addresses, address


class RateLimitMiddleware:
    """ASGI middleware in front of every route: refuses before any parsing happens."""

    def __init__(self, app: ASGIApp, budgets: Budgets) -> None:
        self.app = app
        self.budgets = budgets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not scope["path"].startswith(_API_PREFIX):
            await self.app(scope, receive, send)
            return
        budgets = self.budgets
        address = budgets.clients.of(scope)
        token = _token(scope)
        if token is not None:
            blocked = budgets.failures.blocked(address)
            if blocked > 0.0:
                httpmetrics.refused("auth_blocked")
                await _too_many(send, _BLOCKED_BODY, blocked)
                return
        buckets, key = budgets.bucket(scope["route_handler"], token, address)
        wait = buckets.take(key)
        if wait > 0.0:
            httpmetrics.refused(buckets.name)
            await _too_many(send, _LIMITED_BODY, wait)
            return
        if token is None:
            await self.app(scope, receive, send)
            return

        async def send_watching_401(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                if buckets is budgets.users:
                    buckets.refund(key)
                httpmetrics.refused("auth_failed")
                delay = budgets.failures.fail(address)
                if delay > 0.0:
                    await asyncio.sleep(delay)
            await send(message)

        await self.app(scope, receive, send_watching_401)


def _token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _AUTHORIZATION:
            return parse_bearer(value.decode("latin-1"))
    return None


async def _too_many(send: Send, body: bytes, wait_s: float) -> None:
    await send_error(send, 429, body, [(b"retry-after", str(max(1, math.ceil(wait_s))).encode())])
