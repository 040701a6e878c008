"""Users and money: sign-up, deposits (the faucet, or the operator), withdrawals, balances.

Invariants:
- Sign-up draws the secret here (the ledger stays free of randomness), stores only its
  hash on a shard chosen round-robin, and shows the key once.  A shard that is down is
  skipped; one that times out is not (the user may exist).
- With ``exchange.open_signup`` off only the admin key signs users up; with
  ``exchange.faucet`` off only the admin key deposits, naming the user by ``user_id``.
- Amounts are parsed with the asset's precision before anything is sent.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from actors.accounts.protocol import (
    Auth,
    BalancesReply,
    CreateUser,
    Deposit,
    UserCreated,
    Withdraw,
)
from api.wire import BalanceOut, balance_out
from bourse.ids import api_key_of, hash_secret, new_secret
from bourse.money import parse_units
from gateway import operations
from gateway.actors import expect
from gateway.auth import BEARER, Caller, bearer_token
from gateway.context import Gateway
from gateway.errors import ApiError, error_responses, invalid, unauthenticated
from gateway.ratelimit import BUDGET, SIGNUP
from gateway.schemas import DepositRequest, UserOut, WithdrawalRequest

TAGS = ["account"]


@post(
    "/users",
    status_code=201,
    tags=TAGS,
    summary="Create a user; the API key is shown once",
    description="Open when exchange.open_signup is on; otherwise only with the admin key.",
    responses=error_responses(401, 503, 504),
    opt={BUDGET: SIGNUP},
)
async def create_user(request: Request[Any, Any, Any], gw: NamedDependency[Gateway]) -> UserOut:
    if not gw.config.exchange.open_signup and not gw.auth.is_admin_key(bearer_token(request)):
        raise unauthenticated("sign-up is closed: it needs the admin key")
    secret = new_secret()
    message = CreateUser(hash_secret(secret))
    shards = len(gw.config.shards)
    for attempt in range(shards):
        shard = gw.next_signup_shard()
        try:
            reply = expect(await gw.link.shard(shard, message), UserCreated)
        except ApiError as error:
            if error.code != "UNAVAILABLE" or attempt == shards - 1:
                raise
            continue
        return UserOut(user_id=str(reply.user_id), api_key=api_key_of(reply.user_id, secret))
    raise ApiError(503, "UNAVAILABLE", "no accounts shard is reachable")


def _decimals(gw: Gateway, asset: str) -> int:
    decimals = gw.config.assets.get(asset)
    if decimals is None:
        raise ApiError(400, "UNKNOWN_ASSET", f"unknown asset {asset!r}", "asset")
    return decimals


@post(
    "/deposits",
    status_code=200,
    tags=TAGS,
    summary="Credit an account",
    description=(
        "With exchange.faucet on, a user credits their own account.  With the admin key, "
        "the body names the user to credit in user_id."
    ),
    security=BEARER,
    responses=error_responses(400, 401, 403, 404, 413, 503, 504),
)
async def deposit(
    gw: NamedDependency[Gateway], caller: NamedDependency[Caller], data: JSONBody[DepositRequest]
) -> BalanceOut:
    decimals = _decimals(gw, data.asset)
    amount = parse_units(data.amount, decimals, field="amount")
    if caller.admin:
        target = _admin_target(gw, data.user_id)
        try:
            reply = await gw.link.user(target, Deposit(target, data.asset, amount))
        except ApiError as error:
            if error.status == 401:
                raise ApiError(404, "USER_NOT_FOUND", "no such user", "user_id") from None
            raise
    else:
        auth = caller.auth
        if auth is None:
            raise unauthenticated()
        if data.user_id is not None and data.user_id != str(auth.user_id):
            raise ApiError(403, "FORBIDDEN", "only the admin key credits another user", "user_id")
        reply = await gw.link.user(auth, Deposit(auth, data.asset, amount))
    return balance_out(expect(reply, BalancesReply).balances[0], decimals)


def _admin_target(gw: Gateway, user_id: str | None) -> Auth:
    if user_id is None:
        raise invalid("user_id", "with the admin key, user_id names the user to credit")
    number = int(user_id)
    if gw.config.shard_of_user(number) is None:
        raise ApiError(404, "USER_NOT_FOUND", "no such user", "user_id")
    return Auth(number, b"", admin=True)


@post(
    "/withdrawals",
    status_code=200,
    tags=TAGS,
    summary="Take funds out of the free balance",
    security=BEARER,
    responses=error_responses(400, 401, 413, 422, 503, 504),
)
async def withdraw(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], data: JSONBody[WithdrawalRequest]
) -> BalanceOut:
    decimals = _decimals(gw, data.asset)
    amount = parse_units(data.amount, decimals, field="amount")
    reply = await gw.link.user(auth, Withdraw(auth, data.asset, amount))
    return balance_out(expect(reply, BalancesReply).balances[0], decimals)


@get(
    "/balances",
    tags=TAGS,
    summary="Free and locked balance of every asset",
    security=BEARER,
    responses=error_responses(401, 503, 504),
)
async def balances(gw: NamedDependency[Gateway], auth: NamedDependency[Auth]) -> list[BalanceOut]:
    return await operations.balances(gw, auth)


ROUTES = [create_user, deposit, withdraw, balances]
