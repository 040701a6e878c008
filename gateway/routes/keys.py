"""API keys over REST: create one (its secret shown once), list them, revoke one.

Invariants: every call needs a key with the ``keys`` scope, which the shard checks;
handlers only call their operation (gateway/operations.py).  A revoked key answers 401
at once on every gateway worker: the shard decides on every request.
"""

from __future__ import annotations

from typing import Annotated

from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from actors.accounts.protocol import Auth
from gateway import operations
from gateway.auth import BEARER
from gateway.context import Gateway
from gateway.errors import error_responses
from gateway.schemas import KeyCreatedOut, KeyOut, KeyRequest

TAGS = ["keys"]
KeyId = Annotated[str, PathParameter(pattern=r"^[0-9]{1,9}$", description="the key's id")]


@post(
    "/keys",
    status_code=201,
    summary="Create an API key; its secret is shown only this once",
    description=(
        "scopes: read (GET calls and the feed's private channels), trade (orders, and "
        "faucet deposits), withdraw (withdrawals), keys (these calls).  allowed_ips: "
        "addresses or CIDR blocks, IPv4 and IPv6; a call from anywhere else gets 403 "
        "IP_NOT_ALLOWED.  Empty or absent: any address."
    ),
    responses=error_responses(400, 401, 403, 409, 413, 422, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def create_key(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], data: JSONBody[KeyRequest]
) -> KeyCreatedOut:
    return await operations.create_key(gw, auth, data)


@get(
    "/keys",
    summary="The user's API keys, without their secrets",
    responses=error_responses(401, 403, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def list_keys(gw: NamedDependency[Gateway], auth: NamedDependency[Auth]) -> list[KeyOut]:
    return await operations.list_keys(gw, auth)


@delete(
    "/keys/{key_id:str}",
    status_code=200,
    summary="Revoke an API key at once",
    description="The user's last key with the keys scope cannot be revoked (422).",
    responses=error_responses(400, 401, 403, 404, 422, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def revoke_key(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], key_id: KeyId
) -> KeyOut:
    return await operations.revoke_key(gw, auth, key_id)


ROUTES = [create_key, list_keys, revoke_key]
