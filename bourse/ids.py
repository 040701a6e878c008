"""Identifiers that say where they live.

Invariants:
- A user id carries its accounts shard in its high bits (``shard << USER_SHIFT``), so any
  process finds a user's shard without a lookup.
- An order id carries the shard that assigned it (``shard << ORDER_SHIFT``); shards
  count their own orders, so order ids are unique across the exchange without
  coordination, and fit a signed 64-bit integer.  Fill ids are made the same way from
  the shard's own count of fills.
- An API key is ``"<user_id>.<secret>"``: the user id routes it, only a SHA-256 of the
  secret is ever stored.  The secret is drawn by the gateway, so the accounts state
  machine stays free of randomness.
- A key has one written form: the user id in plain decimal (no sign, no leading zero),
  so no two strings name the same key (``0001.<secret>`` is no alias of ``1.<secret>``).
"""

from __future__ import annotations

import hashlib
import secrets

USER_SHIFT = 40
ORDER_SHIFT = 48


def make_user_id(shard: int, number: int) -> int:
    return (shard << USER_SHIFT) | number


def shard_of_user(user_id: int) -> int:
    return user_id >> USER_SHIFT


def make_order_id(shard: int, number: int) -> int:
    return (shard << ORDER_SHIFT) | number


def make_fill_id(shard: int, number: int) -> int:
    return (shard << ORDER_SHIFT) | number


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def api_key_of(user_id: int, secret: str) -> str:
    return f"{user_id}.{secret}"


def split_api_key(api_key: str) -> tuple[int, bytes] | None:
    """The user id an API key names and the hash of its secret; None when malformed."""
    user_id = user_id_of_key(api_key)
    if user_id is None:
        return None
    return user_id, hash_secret(api_key.partition(".")[2])


def user_id_of_key(api_key: str) -> int | None:
    """The user id a well-formed API key names (its secret unchecked); None otherwise."""
    prefix, dot, secret = api_key.partition(".")
    if not dot or not secret or len(secret) > 128 or not canonical_id(prefix):
        return None
    return int(prefix)


def canonical_id(text: str) -> bool:
    """Whether ``text`` is a user id as this exchange writes one: 1-18 ASCII digits, and
    no leading zero (but "0" itself)."""
    digits = text.isascii() and text.isdigit()  # str.isdigit alone takes "²"
    return digits and len(text) <= 18 and (text[0] != "0" or text == "0")


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
