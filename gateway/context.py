"""What a request handler works with: the config, the actors, the authenticator.

Invariants:
- One :class:`Gateway` per worker process, kept in the app's state; it holds no exchange
  state, only connections and the round-robin counter that spreads sign-ups over shards.
- Handlers get it, and the caller's identity, through the dependencies defined here, so
  authentication happens before a handler runs and is the same everywhere.
"""

from __future__ import annotations

import itertools
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler

from actors.accounts.protocol import Auth
from bourse.config import Config
from bourse.gcpolicy import settle_after_startup
from bourse.market import Market
from gateway.actors import Actors
from gateway.auth import Authenticator, Caller, bearer_token
from gateway.clientaddr import ClientAddresses
from gateway.errors import ApiError, unknown_market

STATE_KEY = "gateway"


class Gateway:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.auth = Authenticator(config)
        self.addresses = ClientAddresses(config)
        self.actors: Actors | None = None
        self._signup_shards = itertools.cycle(range(len(config.shards)))

    @property
    def link(self) -> Actors:
        if self.actors is None:
            raise ApiError(503, "UNAVAILABLE", "the gateway is starting")
        return self.actors

    def market(self, name: str | None) -> Market:
        market = self.config.markets.get(name) if name is not None else None
        if market is None:
            raise unknown_market(name)
        return market

    def optional_market(self, name: str | None) -> str | None:
        return None if name is None else self.market(name).name

    def next_signup_shard(self) -> int:
        return next(self._signup_shards)

    async def startup(self) -> None:
        self.actors = Actors(self.config)
        self.actors.start()
        settle_after_startup()

    async def shutdown(self) -> None:
        if self.actors is not None:
            await self.actors.close()
            self.actors = None


def provide_gateway(state: State) -> Gateway:
    gateway: Gateway = state[STATE_KEY]
    return gateway


def provide_auth(request: Request[Any, Any, Any], gw: NamedDependency[Gateway]) -> Auth:
    return gw.auth.user(bearer_token(request), gw.addresses.of(request.scope))


def provide_caller(request: Request[Any, Any, Any], gw: NamedDependency[Gateway]) -> Caller:
    return gw.auth.caller(bearer_token(request), gw.addresses.of(request.scope))


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    gateway: Gateway = connection.app.state[STATE_KEY]
    gateway.auth.admin(bearer_token(connection))


DEPENDENCIES = {
    # One Gateway per app: resolved once, then reused.
    "gw": Provide(provide_gateway, sync_to_thread=False, use_cache=True),
    "auth": Provide(provide_auth, sync_to_thread=False),
    "caller": Provide(provide_caller, sync_to_thread=False),
}
