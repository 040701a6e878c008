"""Checking a WebSocket client's API key with the user's accounts shard.

Invariants:
- The key never leaves this process: only ``(user_id, sha256(secret))`` goes to the shard
  that the user id names, as ``Authenticate``; the shard decides.
- ``authenticate`` always ends within the request timeout, with the user id or a message
  saying why not: :data:`UNAVAILABLE` when the shard could not be asked (no failure of
  the client's), another message for a key that is not a user's (malformed or wrong).
"""

from __future__ import annotations

import msgspec
import zmq.asyncio

from actors.accounts.protocol import AccountsReply, Auth, Authenticate, Authenticated
from bourse.config import Config
from bourse.ids import shard_of_user, split_api_key
from transport.client import DealerClient, RequestError
from transport.security import BusSecurity

UNAVAILABLE = "authentication is unavailable right now, try again"

_encoder = msgspec.msgpack.Encoder()
_decode = msgspec.msgpack.Decoder(AccountsReply).decode


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

    async def authenticate(self, api_key: str) -> int | str:
        """The user id the key belongs to, or why it was refused."""
        parts = split_api_key(api_key)
        if parts is None:
            return "invalid api key: expected <user_id>.<secret>"
        user_id, key_hash = parts
        shard = shard_of_user(user_id)
        if not 0 <= shard < len(self._shards):
            return "invalid api key"
        try:
            body = await self._shards[shard].request(
                _encoder.encode(Authenticate(Auth(user_id, key_hash)))
            )
            reply = _decode(body)
        except (RequestError, msgspec.DecodeError, msgspec.ValidationError):
            return UNAVAILABLE
        if isinstance(reply, Authenticated) and reply.user_id == user_id:
            return user_id
        return "invalid api key"

    async def close(self) -> None:
        for client in self._shards:
            await client.close()
