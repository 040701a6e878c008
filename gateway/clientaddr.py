"""Who the client is, by address: the socket's peer, or what a trusted proxy says.

Invariants:
- Without ``gateway.trusted_proxies`` the client is the socket's peer, whatever a header
  says.  When the peer is one of the trusted proxies, ``X-Forwarded-For`` is read from
  its end: each address a trusted proxy added is skipped, and the first one that is not
  a trusted proxy's is the client (what the nearest untrusted hop connected from).  A
  header that is malformed, or holds only trusted proxies, leaves the peer as the
  client.
- The address is an IP address's text, or "" when the connection has none (a local
  socket).  Rate limits, failed authentications and a
  key's ``allowed_ips`` all use this one answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from litestar.types import Scope

from bourse.config import Config

_FORWARDED_FOR = b"x-forwarded-for"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddresses:
    def __init__(self, config: Config) -> None:
        self.proxies: list[IPNetwork] = [
            ipaddress.ip_network(proxy, strict=False)
            for proxy in config.raw.gateway.trusted_proxies
        ]

    def of(self, scope: Scope) -> str:
        client = scope.get("client")
        if not self.proxies:
            return str(client[0]) if client else ""
        peer = _normal(client[0]) if client else ""
        if not peer or not self._trusted(peer):
            return peer
        forwarded = [value for name, value in scope["headers"] if name == _FORWARDED_FOR]
        return self._from_forwarded(peer, forwarded)

    def _from_forwarded(self, peer: str, headers: Iterable[bytes]) -> str:
        hops = [hop.strip() for value in headers for hop in value.decode("latin-1").split(",")]
        for hop in reversed(hops):
            address = _normal(hop)
            if not address:
                return peer  # a hop that is no address: the header cannot be believed
            if not self._trusted(address):
                return address
        return peer

    def _trusted(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in network for network in self.proxies)


def _normal(text: str) -> str:
    """``text`` as an address's canonical text; "" when it is none."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def packed(address: str) -> bytes:
    """The address as 4 or 16 bytes (what a shard matches a key's networks against)."""
    return ipaddress.ip_address(address).packed if address else b""
