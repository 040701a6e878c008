"""Checking a WebSocket client's API key with the user's accounts shard.

Invariants:
- The key never leaves this process: only ``(user_id, sha256(secret))`` and the client's
  address go to the shard that the user id names, as ``Authenticate``; the shard
  decides (the key, its allowed addresses), and says the key's id and scopes.
- ``authenticate`` always ends within the request timeout, with a :class:`Granted` or a
  message saying why not: :data:`UNAVAILABLE` when the shard could not be asked (no
  failure of the client's), another message for a key that is not a user's (malformed,
  wrong, revoked, or refused at this address).  ``still_valid`` asks the same again for
  a key granted before.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import msgspec
import zmq.asyncio

from actors.accounts.protocol import AccountsReply, Auth, Authenticate, Authenticated, Scope
from bourse.config import Config
from bourse.ids import shard_of_user, split_api_key
from transport.client import DealerClient, RequestError
from transport.security import BusSecurity

UNAVAILABLE = "authentication is unavailable right now, try again"

_encoder = msgspec.msgpack.Encoder()
_decode = msgspec.msgpack.Decoder(AccountsReply).decode


@dataclass(frozen=True, slots=True)
class Granted:
    user_id: int
    key_id: int
    scopes: list[Scope]
    auth: Auth  # what the key was checked as: to check it again


class Authenticator:
    def __init__(self, context: zmq.asyncio.Context, config: Config, security: BusSecurity) -> None:
        timeout_s = config.exchange.request_timeout_ms / 1000
        self._shards = [
            DealerClient(context, shard.routers, shard.name, timeout_s, security)
            for shard in config.shards
        ]

    def start(self) -> None:
        for client in self._shards:
            client.start()

    async def authenticate(self, api_key: str, address: str) -> Granted | str:
        """What the key grants when used from ``address``, or why it was refused."""
        parts = split_api_key(api_key)
        if parts is None:
            return "invalid api key: expected <user_id>.<secret>"
        user_id, key_hash = parts
        if not 0 <= shard_of_user(user_id) < len(self._shards):
            return "invalid api key"
        return await self.still_valid(Auth(user_id, key_hash, address=_packed(address)))

    async def still_valid(self, auth: Auth) -> Granted | str:
        try:
            body = await self._shards[shard_of_user(auth.user_id)].request(
                _encoder.encode(Authenticate(auth))
            )
            reply = _decode(body)
        except (RequestError, msgspec.DecodeError, msgspec.ValidationError):
            return UNAVAILABLE
        if isinstance(reply, Authenticated) and reply.user_id == auth.user_id:
            return Granted(reply.user_id, reply.key_id, list(reply.scopes), auth)
        return "invalid api key"

    @property
    def shards(self) -> int:
        return len(self._shards)

    async def close(self) -> None:
        for client in self._shards:
            await client.close()


def _packed(address: str) -> bytes:
    try:
        return ipaddress.ip_address(address).packed
    except ValueError:
        return b""
