"""What one client may cost: token buckets, failed-authentication tracking, connection slots.

Pure bookkeeping shared by the gateway and the feed: no sockets, and the clock is
injected, so each piece is tested on its own.

Invariants:
- :class:`TokenBuckets`: a bucket holds at most ``burst`` tokens and gains ``rate`` a
  second; ``take`` grants a token or says how long until one is due; ``refund`` gives one
  back (never past ``burst``).  A full bucket is the same as no bucket, so full ones are
  dropped when the table reaches ``max_keys``, and past that the oldest half.
- :class:`AuthFailures`: a count of failed authentications per client address, one
  forgotten every ``forget_s``.  Past ``slow_after`` a failure's answer is delayed by
  ``delay_s``; reaching ``block_after`` blocks the address for ``block_s`` (its count
  stays, so after the block one more failure blocks it again).
  The table is bounded like the buckets' (forgotten addresses first).
- :class:`ConnectionSlots`: at most ``total`` open connections, at most ``per_address``
  from one address; a slot is taken when a connection opens and given back when it
  closes, so the table holds only addresses with open connections.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

Clock = Callable[[], float]
MAX_KEYS = 100_000


class TokenBuckets:
    def __init__(
        self,
        rate: float,
        burst: int,
        name: str = "",
        max_keys: int = MAX_KEYS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name  # what the limit is called where refusals are counted
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        # key -> (tokens, time they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 when granted, else the seconds until one is due."""
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self.rate

    def refund(self, key: str) -> None:
        """Give back a token taken for a call that turned out not to be ``key``'s."""
        now = self._clock()
        self._store(key, min(self.burst, self._tokens(key, now) + 1.0), now)

    def _tokens(self, key: str, now: float) -> float:
        tokens, then = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - then) * self.rate)

    def _store(self, key: str, tokens: float, now: float) -> None:
        buckets = self._buckets
        if key not in buckets and len(buckets) >= self.max_keys:
            self._prune(now)
        buckets[key] = (tokens, now)

    def _prune(self, now: float) -> None:
        buckets = self._buckets
        full = [
            key
            for key, (tokens, then) in buckets.items()
            if tokens + (now - then) * self.rate >= self.burst
        ]
        for key in full:
            del buckets[key]
        if len(buckets) >= self.max_keys:
            for key in list(buckets)[: len(buckets) // 2]:
                del buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class AuthFailures:
    def __init__(
        self,
        slow_after: int,
        block_after: int,
        delay_s: float,
        block_s: float,
        forget_s: float,
        max_keys: int = MAX_KEYS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.slow_after = slow_after
        self.block_after = block_after
        self.delay_s = delay_s
        self.block_s = block_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self._clock = clock
        # address -> (failures, time the next forgetting counts from, blocked until)
        self._scores: dict[str, tuple[int, float, float]] = {}

    def blocked(self, address: str) -> float:
        """Seconds left of ``address``'s block; 0.0 when it is not blocked."""
        entry = self._scores.get(address)
        if entry is None:
            return 0.0
        return max(0.0, entry[2] - self._clock())

    def fail(self, address: str) -> float:
        """Count a failed authentication from ``address``: the delay to put on its answer."""
        now = self._clock()
        failures, since = self._failures(address, now)
        failures += 1
        until = self._scores.get(address, (0, now, 0.0))[2]
        if failures >= self.block_after:
            until = now + self.block_s
        if address not in self._scores and len(self._scores) >= self.max_keys:
            self._prune(now)
        self._scores[address] = (failures, since, until)
        return self.delay_s if failures > self.slow_after else 0.0

    def _failures(self, address: str, now: float) -> tuple[int, float]:
        """The failures still counted for ``address``, and when the next is forgotten from."""
        entry = self._scores.get(address)
        if entry is None:
            return 0, now
        failures, since, _ = entry
        forgotten = int((now - since) // self.forget_s)
        if forgotten >= failures:
            return 0, now
        return failures - forgotten, since + forgotten * self.forget_s

    def _prune(self, now: float) -> None:
        scores = self._scores
        forgotten = [
            address
            for address, (_, _, until) in scores.items()
            if until <= now and self._failures(address, now)[0] == 0
        ]
        for address in forgotten:
            del scores[address]
        if len(scores) >= self.max_keys:
            for address in list(scores)[: len(scores) // 2]:
                del scores[address]

    def __len__(self) -> int:
        return len(self._scores)


Refusal = Literal["max_connections", "max_connections_per_address"]


class ConnectionSlots:
    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self.open = 0
        self._by_address: dict[str, int] = {}

    def take(self, address: str) -> Refusal | None:
        """A slot for a new connection from ``address``; None when granted, else which
        limit refused it."""
        if self.open >= self.total:
            return "max_connections"
        held = self._by_address.get(address, 0)
        if held >= self.per_address:
            return "max_connections_per_address"
        self._by_address[address] = held + 1
        self.open += 1
        return None

    def give_back(self, address: str) -> None:
        held = self._by_address.get(address, 0)
        if held <= 0:
            return
        self.open -= 1
        if held == 1:
            del self._by_address[address]
        else:
            self._by_address[address] = held - 1

    def held(self, address: str) -> int:
        return self._by_address.get(address, 0)
