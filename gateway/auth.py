"""Who is calling: ``Authorization: Bearer <api_key>`` turned into an accounts ``Auth``.

Invariants:
- An API key names its user id, hence its shard: the gateway never looks a key up.  It
  only checks the key's shape; the shard compares the secret's hash and answers 401
  UNAUTHENTICATED when it is wrong.
- A missing or malformed header is 401 UNAUTHENTICATED from the gateway itself.
- The operator's admin key is recognised by ``sha256(key) == exchange.admin_key_sha256``,
  compared in constant time; an empty setting means no key is the admin key.  Only the
  gateway sets ``Auth.admin``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection

from actors.accounts.protocol import Auth
from bourse.config import Config
from bourse.ids import split_api_key, user_id_of_key
from gateway.clientaddr import packed
from gateway.errors import unauthenticated

_BEARER = "bearer "
#: The OpenAPI security requirement of every endpoint that takes a key.
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    return None if header is None else parse_bearer(header)


def parse_bearer(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value; None for anything else."""
    if header[: len(_BEARER)].lower() != _BEARER:
        return None
    return header[len(_BEARER) :].strip() or None


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller of an endpoint that takes either a user's key or the admin key."""

    auth: Auth | None
    admin: bool


class Authenticator:
    def __init__(self, config: Config) -> None:
        self._config = config
        digest = config.exchange.admin_key_sha256
        self._admin_hash = bytes.fromhex(digest) if digest else None

    def is_admin_key(self, token: str | None) -> bool:
        if token is None or self._admin_hash is None:
            return False
        offered = hashlib.sha256(token.encode()).digest()
        return hmac.compare_digest(offered, self._admin_hash)

    def claimed_user(self, token: str) -> int | None:
        """The user a well-formed key names (its secret not checked); None otherwise."""
        user_id = user_id_of_key(token)
        if user_id is None or self._config.shard_of_user(user_id) is None:
            return None
        return user_id

    def user(self, token: str | None, address: str = "") -> Auth:
        """The ``Auth`` a user's key stands for, calling from ``address`` (the shard
        checks the key's allowed_ips against it); 401 when there is none or it cannot be
        one."""
        if token is None:
            raise unauthenticated("send Authorization: Bearer <api_key>")
        parts = split_api_key(token)
        if parts is None or self._config.shard_of_user(parts[0]) is None:
            raise unauthenticated()
        return Auth(parts[0], parts[1], address=packed(address))

    def admin(self, token: str | None) -> None:
        if not self.is_admin_key(token):
            raise unauthenticated("this needs the admin key")

    def caller(self, token: str | None, address: str = "") -> Caller:
        if self.is_admin_key(token):
            return Caller(None, True)
        return Caller(self.user(token, address), False)
