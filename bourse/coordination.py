"""The ``[coordinator]`` section: where the coordinator (etcd) is and how leases behave.

Invariants:
- No section, no coordinator: every process then leads alone, as the local default does.
- A section that loads is usable: at least one ``http://host:port`` endpoint and no
  repeat, a key prefix that is a clean absolute path (default ``/bourse/<exchange name>``),
  a lease TTL of whole seconds (etcd counts leases in seconds), and a request timeout and
  fencing margin small enough that a failed keepalive is retried before the lease ends.
- Each rule broken raises :class:`ValueError` naming the key (``coordinator.<key>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import msgspec

_PREFIX = re.compile(r"(/[A-Za-z0-9._-]+)+")
MAX_LEASE_TTL_MS = 3_600_000


class CoordinatorSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    endpoints: list[str] = msgspec.field(default_factory=lambda: ["http://127.0.0.1:2379"])
    # "" means /bourse/<exchange name>.
    prefix: str = ""
    lease_ttl_ms: int = 1000
    # Every call to the coordinator fails within this (connect, then answer).
    request_timeout_ms: int = 250
    # A leader stops acting this long before its lease could end, whatever the clocks do.
    fence_margin_ms: int = 100
    # On one machine only: the host whose `bourse run --host` starts a single-member etcd
    # at the first endpoint (a cluster across hosts runs an etcd cluster of its own).
    host: str = ""


@dataclass(frozen=True, slots=True)
class CoordinatorSettings:
    endpoints: tuple[str, ...]
    prefix: str
    lease_ttl_ms: int
    request_timeout_ms: int
    fence_margin_ms: int


def coordinator_settings(section: CoordinatorSection, exchange_name: str) -> CoordinatorSettings:
    """The checked settings of a ``[coordinator]`` section."""
    if not section.endpoints:
        raise ValueError("`coordinator.endpoints` must list at least one http://host:port")
    endpoints = tuple(_endpoint(url) for url in section.endpoints)
    if len(set(endpoints)) != len(endpoints):
        raise ValueError("`coordinator.endpoints` lists an endpoint twice")
    prefix = section.prefix or f"/bourse/{exchange_name}"
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"`coordinator.prefix` {prefix!r} must be /name[/name...], each name letters, "
            "digits, '.', '_' or '-' (set it when the exchange's name has other characters)"
        )
    ttl = section.lease_ttl_ms
    if not 1000 <= ttl <= MAX_LEASE_TTL_MS or ttl % 1000:
        raise ValueError(
            f"`coordinator.lease_ttl_ms` must be whole seconds between 1000 and "
            f"{MAX_LEASE_TTL_MS} (etcd counts lease TTLs in seconds)"
        )
    if not 0 < section.request_timeout_ms <= ttl // 4:
        raise ValueError(
            "`coordinator.request_timeout_ms` must be greater than zero and at most a quarter "
            "of `coordinator.lease_ttl_ms`, so that a failed keepalive is retried in time"
        )
    if not 0 <= section.fence_margin_ms <= ttl // 4:
        raise ValueError(
            "`coordinator.fence_margin_ms` must be between zero and a quarter of "
            "`coordinator.lease_ttl_ms`"
        )
    return CoordinatorSettings(
        endpoints=endpoints,
        prefix=prefix,
        lease_ttl_ms=ttl,
        request_timeout_ms=section.request_timeout_ms,
        fence_margin_ms=section.fence_margin_ms,
    )


def _endpoint(url: str) -> str:
    rule = f"`coordinator.endpoints`: {url!r} must be http://host:port"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(rule) from None
    if (
        parts.scheme != "http"
        or not parts.hostname
        or port is None
        or not 1 <= port <= 65535
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ValueError(rule)
    return f"http://{parts.netloc}"
