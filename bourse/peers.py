"""Who is on the bus: every process of a config by name, its role, and where it may connect.

Invariants:
- A process is named once, here: ``engine-<MARKET>``, ``accounts-<k>``, ``gateway``,
  ``feed``, and ``operator`` for the operator's tools.  A process's key files and the
  ``User-Id`` its handshake proves carry this name.
- A name parses back to exactly one :class:`Peer`; anything else is no peer at all.
- ``DOMAINS`` says which kinds of process may connect to each kind of listening socket
  (the socket's ZAP domain); an actor then checks each message against the sender's role.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

PeerKind = Literal["engine", "accounts", "gateway", "feed", "operator"]

# The sender of every message when the bus runs without security (benchmarks only).
ANYONE = "*"

GATEWAY = "gateway"
FEED = "feed"
OPERATOR = "operator"
ENGINE_PREFIX = "engine-"
ACCOUNTS_PREFIX = "accounts-"


class Peer(NamedTuple):
    kind: PeerKind
    market: str | None = None  # an engine's market
    shard: int | None = None  # an accounts shard's number


_SINGLE = {GATEWAY: Peer("gateway"), FEED: Peer("feed"), OPERATOR: Peer("operator")}


def engine_name(market: str) -> str:
    return f"{ENGINE_PREFIX}{market}"


def shard_name(shard: int) -> str:
    return f"{ACCOUNTS_PREFIX}{shard}"


def peer_of(name: str) -> Peer | None:
    """The peer a process name stands for; None for a name that is none of ours."""
    single = _SINGLE.get(name)
    if single is not None:
        return single
    if name.startswith(ENGINE_PREFIX) and len(name) > len(ENGINE_PREFIX):
        return Peer("engine", market=name[len(ENGINE_PREFIX) :])
    number = name[len(ACCOUNTS_PREFIX) :]
    # One spelling per shard: digits only, no leading zeros.
    digits = number.isascii() and number.isdigit() and number == str(int(number or "0"))
    if name.startswith(ACCOUNTS_PREFIX) and digits:
        return Peer("accounts", shard=int(number))
    return None


# ZAP domains of the listening sockets, and the kinds of process each admits.  A stranger
# (no key, or a key the cluster does not list) is admitted nowhere.
ENGINE_ROUTER = "engine-router"
ENGINE_PUB = "engine-pub"
ACCOUNTS_ROUTER = "accounts-router"
ACCOUNTS_PUB = "accounts-pub"
FEED_ROUTER = "feed-router"

DOMAINS: dict[str, frozenset[PeerKind]] = {
    # shards place orders, the gateway halts markets and reads depth, the feed fetches
    # snapshots, the operator reads status
    ENGINE_ROUTER: frozenset(("accounts", "gateway", "feed", "operator")),
    ENGINE_PUB: frozenset(("feed",)),
    ACCOUNTS_ROUTER: frozenset(("gateway", "feed", "operator")),
    # users' private events: only the feed relays them, to the users they belong to
    ACCOUNTS_PUB: frozenset(("feed",)),
    FEED_ROUTER: frozenset(("gateway", "operator")),
}


def is_sender(sender: str, process: str) -> bool:
    """Whether a message whose handshake proved ``sender`` comes from ``process``."""
    return sender in (process, ANYONE)


def sent_by(sender: str, *kinds: PeerKind) -> bool:
    """Whether a message whose handshake proved ``sender`` comes from one of ``kinds``."""
    if sender == ANYONE:
        return True
    peer = peer_of(sender)
    return peer is not None and peer.kind in kinds


def admits(domain: str, process: str) -> bool:
    """Whether ``process`` may connect to a socket of ``domain`` at all."""
    peer = peer_of(process)
    kinds = DOMAINS.get(domain)
    return peer is not None and kinds is not None and peer.kind in kinds
