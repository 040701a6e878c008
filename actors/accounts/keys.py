"""API keys of one shard's users: several per user, each with scopes and the addresses it
serves; the shard decides on every request whether its key may make it.

Invariants:
- A key is found by the SHA-256 of its secret, the only form of it the shard ever holds
  (the gateway draws the secret).  A key that is not one of the user's, or was revoked,
  is UNAUTHENTICATED on the very next request, whoever forwards it: nothing outside the
  shard decides, so no cache can outlive a revocation.
- Every private request needs one scope (:func:`needed_scope`); a key without it is
  refused 403 FORBIDDEN_SCOPE, and a key with networks refuses every other client
  address 403 IP_NOT_ALLOWED, before anything is changed or read.  The admin's ``Auth``
  (checked by the gateway) passes both.
- A user always keeps a key with the ``keys`` scope: revoking the last one is refused.
  A user holds at most ``MAX_KEYS`` keys, each at most ``MAX_NETWORKS`` networks.
- Each revocation counts in ``ShardState.revocations`` and is published on
  ``keys.<shard>`` (``KeyRevoked``); the actor repeats the count every second
  (``KeysHeard``) so a listener that missed one finds out.
"""

from __future__ import annotations

import ipaddress
import re

from actors.accounts.protocol import (
    SCOPES,
    AccountsReply,
    AccountsRequest,
    Auth,
    Authenticated,
    CreateKey,
    ErrorReply,
    GetOrder,
    KeyReply,
    KeysReply,
    KeyView,
    ListKeys,
    RevokeKey,
    Scope,
)
from actors.accounts.shard import ShardState
from actors.accounts.state import ApiKey, User

MAX_KEYS = 32
MAX_NETWORKS = 32
_LABEL = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
_BITS = {4: 32, 6: 128}
_MAPPED_V4 = ipaddress.IPv6Network("::ffff:0:0/96")

# The scope each request needs; any request this table does not name needs ``trade``
# (every order operation added later is one).  ``Authenticate`` needs none: it only
# says which user and scopes a key has.
_SCOPE_OF: dict[str, Scope | None] = {
    "authenticate": None,
    "balances": "read",
    "list_orders": "read",
    "list_fills": "read",
    "get_list": "read",
    "deposit": "trade",
    "withdraw": "withdraw",
    "create_key": "keys",
    "list_keys": "keys",
    "revoke_key": "keys",
}


def needed_scope(request: AccountsRequest) -> Scope | None:
    if isinstance(request, GetOrder):
        return request.scope
    tag = type(request).__struct_config__.tag
    return _SCOPE_OF.get(tag, "trade") if isinstance(tag, str) else "trade"


class Keys:
    def __init__(self, state: ShardState) -> None:
        self.state = state

    def authenticate(self, auth: Auth) -> tuple[User, ApiKey | None] | None:
        """The user and the key ``auth`` stands for (no key for the admin); None when it
        stands for nobody."""
        user = self.state.users.get(auth.user_id)
        if user is None:
            return None
        if auth.admin:
            return user, None
        key = user.keys.get(auth.key_hash)
        return None if key is None else (user, key)

    def refusal(
        self, key: ApiKey | None, auth: Auth, request: AccountsRequest
    ) -> ErrorReply | None:
        """Why ``key`` may not make ``request`` from ``auth``'s address, if it may not."""
        if key is None:
            return None
        if key.networks and not serves(key.networks, auth.address):
            return ErrorReply(403, "IP_NOT_ALLOWED", "this key does not serve this address")
        scope = needed_scope(request)
        if scope is not None and scope not in key.scopes:
            return ErrorReply(403, "FORBIDDEN_SCOPE", f"this key lacks the {scope} scope")
        return None

    def authenticated(self, user: User, key: ApiKey | None) -> AccountsReply:
        if key is None:
            return Authenticated(user.user_id, 0, list(SCOPES))
        return Authenticated(user.user_id, key.key_id, list(key.scopes))

    def create(self, now: int, user: User, request: CreateKey) -> AccountsReply:
        if len(request.secret_hash) != 32:
            return ErrorReply(400, "INVALID_FIELD", "secret_hash must be 32 bytes", "secret_hash")
        if not _LABEL.fullmatch(request.label):
            return ErrorReply(
                400, "INVALID_FIELD", "label must be 1-64 printable characters", "label"
            )
        scopes = [scope for scope in SCOPES if scope in request.scopes]
        if not scopes or len(scopes) != len(request.scopes):
            return ErrorReply(
                400,
                "INVALID_FIELD",
                "scopes must name at least one of read, trade, withdraw, keys, each once",
                "scopes",
            )
        networks = parse_networks(request.allowed_ips)
        if isinstance(networks, ErrorReply):
            return networks
        if len(user.keys) >= MAX_KEYS:
            return ErrorReply(422, "TOO_MANY_KEYS", f"a user holds at most {MAX_KEYS} keys")
        if request.secret_hash in user.keys:
            return ErrorReply(409, "DUPLICATE_KEY", "this secret is already a key")
        key = ApiKey(user.next_key, request.label, scopes, networks, now)
        user.next_key += 1
        user.keys[request.secret_hash] = key
        return KeyReply(key_view(key))

    def list(self, user: User, request: ListKeys) -> AccountsReply:
        keys = sorted(user.keys.values(), key=lambda key: key.key_id)
        return KeysReply([key_view(key) for key in keys])

    def revoke(self, user: User, request: RevokeKey) -> AccountsReply:
        found = next((item for item in user.keys.items() if item[1].key_id == request.key_id), None)
        if found is None:
            return ErrorReply(404, "KEY_NOT_FOUND", "no such key", "key_id")
        secret_hash, key = found
        if "keys" in key.scopes and not any(
            "keys" in other.scopes for other in user.keys.values() if other is not key
        ):
            return ErrorReply(
                422, "LAST_KEYS_KEY", "this is the user's last key with the keys scope", "key_id"
            )
        del user.keys[secret_hash]
        state = self.state
        state.revocations += 1
        state.changes.revoked(user.user_id, key.key_id, state.revocations)
        return KeyReply(key_view(key))


def key_view(key: ApiKey) -> KeyView:
    return KeyView(
        key.key_id, key.label, list(key.scopes), [_written(n) for n in key.networks], key.created_at
    )


def parse_networks(texts: list[str]) -> list[tuple[int, int, int]] | ErrorReply:
    """Addresses and CIDR blocks, IPv4 and IPv6, as (version, network, prefix); an IPv4
    address written as IPv6 (``::ffff:10.0.0.1``) counts as the IPv4 one."""
    if len(texts) > MAX_NETWORKS:
        return ErrorReply(
            400, "INVALID_FIELD", f"allowed_ips holds at most {MAX_NETWORKS} entries", "allowed_ips"
        )
    networks: list[tuple[int, int, int]] = []
    for text in texts:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return ErrorReply(
                400,
                "INVALID_FIELD",
                f"{text[:64]!r} is not an IP address or CIDR block",
                "allowed_ips",
            )
        if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED_V4):
            network = ipaddress.IPv4Network(
                (int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96)
            )
        entry = (network.version, int(network.network_address), network.prefixlen)
        if entry not in networks:
            networks.append(entry)
    return networks


def serves(networks: list[tuple[int, int, int]], address: bytes) -> bool:
    """Whether the packed ``address`` lies in one of ``networks``."""
    if len(address) == 16 and address[:12] == b"\0" * 10 + b"\xff\xff":
        address = address[12:]
    version = 4 if len(address) == 4 else 6 if len(address) == 16 else 0
    if not version:
        return False
    value = int.from_bytes(address, "big")
    bits = _BITS[version]
    for net_version, network, prefix in networks:
        if net_version == version and value >> (bits - prefix) == network >> (bits - prefix):
            return True
    return False


def _written(network: tuple[int, int, int]) -> str:
    version, value, prefix = network
    address = ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)
    if prefix == _BITS[version]:
        return str(address)
    return str(ipaddress.ip_network((address, prefix)))
