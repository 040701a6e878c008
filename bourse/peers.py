"""Who is on the bus: every process of a config by name, its role, and where it may connect.

Invariants:
- A process is named once, here: ``engine-<MARKET>``, ``accounts-<k>``, ``gateway``,
  ``feed`` (the one feed relay) or ``feed-<n>`` (each of several, from 1), and
  ``operator`` for the operator's tools; the standby of an engine or a
  shard is ``<its name>_standby`` and plays the same role (either may lead the pair).
  A process's key files and the ``User-Id`` its handshake proves carry its name.
- A name parses back to exactly one :class:`Peer`; anything else is no peer at all.
- ``DOMAINS`` says which kinds of process may connect to each kind of listening socket
  (the socket's ZAP domain); an actor then checks each message against the sender's role.
"""

from __future__ import annotations

import functools
from typing import Literal, NamedTuple

PeerKind = Literal["engine", "accounts", "gateway", "feed", "operator"]

# The sender of every message when the bus runs without security (benchmarks only).
ANYONE = "*"

GATEWAY = "gateway"
FEED = "feed"
OPERATOR = "operator"
ENGINE_PREFIX = "engine-"
ACCOUNTS_PREFIX = "accounts-"
RELAY_PREFIX = "feed-"
STANDBY_SUFFIX = "_standby"


class Peer(NamedTuple):
    kind: PeerKind
    market: str | None = None  # an engine's market
    shard: int | None = None  # an accounts shard's number


_SINGLE = {GATEWAY: Peer("gateway"), FEED: Peer("feed"), OPERATOR: Peer("operator")}


def standby_name(process: str) -> str:
    """The standby instance of an engine or shard: the same role, a key of its own."""
    return f"{process}{STANDBY_SUFFIX}"


def engine_name(market: str) -> str:
    return f"{ENGINE_PREFIX}{market}"


def shard_name(shard: int) -> str:
    return f"{ACCOUNTS_PREFIX}{shard}"


def relay_name(number: int) -> str:
    """The feed relay ``number`` (from 1) of a config with several."""
    return f"{RELAY_PREFIX}{number}"


def _number(text: str) -> int | None:
    """Digits only, one spelling per number (no leading zeros)."""
    if text.isascii() and text.isdigit() and text == str(int(text)):
        return int(text)
    return None


@functools.lru_cache(maxsize=1024)
def peer_of(name: str) -> Peer | None:
    """The peer a process name stands for; None for a name that is none of ours.  A
    standby stands for the same peer as its primary: either may lead the pair."""
    single = _SINGLE.get(name)
    if single is not None:
        return single
    if name.startswith(RELAY_PREFIX):
        relay = _number(name[len(RELAY_PREFIX) :])
        return Peer("feed") if relay is not None and relay >= 1 else None
    name = name.removesuffix(STANDBY_SUFFIX)
    if name.startswith(ENGINE_PREFIX) and len(name) > len(ENGINE_PREFIX):
        return Peer("engine", market=name[len(ENGINE_PREFIX) :])
    if name.startswith(ACCOUNTS_PREFIX):
        shard = _number(name[len(ACCOUNTS_PREFIX) :])
        if shard is not None:
            return Peer("accounts", shard=shard)
    return None


# ZAP domains of the listening sockets, and the kinds of process each admits.  A stranger
# (no key, or a key the cluster does not list) is admitted nowhere.
ENGINE_ROUTER = "engine-router"
ENGINE_PUB = "engine-pub"
ACCOUNTS_ROUTER = "accounts-router"
ACCOUNTS_PUB = "accounts-pub"
FEED_ROUTER = "feed-router"
# Where a leader streams its journal to the other instance of its pair (which instance
# may follow is checked per message: only the pair's own).
ENGINE_REPL = "engine-repl"
ACCOUNTS_REPL = "accounts-repl"

DOMAINS: dict[str, frozenset[PeerKind]] = {
    # shards place orders, the gateway halts markets and reads depth, the feed fetches
    # snapshots, the operator reads status
    ENGINE_ROUTER: frozenset(("accounts", "gateway", "feed", "operator")),
    ENGINE_PUB: frozenset(("feed",)),
    ACCOUNTS_ROUTER: frozenset(("gateway", "feed", "operator")),
    # users' private events: only the feed relays them, to the users they belong to
    ACCOUNTS_PUB: frozenset(("feed",)),
    FEED_ROUTER: frozenset(("gateway", "operator")),
    ENGINE_REPL: frozenset(("engine",)),
    ACCOUNTS_REPL: frozenset(("accounts",)),
}


def is_sender(sender: str, process: str) -> bool:
    """Whether a message whose handshake proved ``sender`` comes from ``process`` (or from
    its standby, which may lead in its place)."""
    return sender in (process, ANYONE) or (
        sender.removesuffix(STANDBY_SUFFIX) == process and peer_of(process) is not None
    )


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
