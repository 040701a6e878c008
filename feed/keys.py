"""Keys that stop working while feed connections use them (their private channels).

A shard publishes each revocation (``KeyRevoked``) and, every second, how many it has
made (``KeysHeard``) on ``keys.<shard>``; this follows both.

Invariants:
- A revocation ends, at once, every session authenticated with that key (``revoke``).
- Each shard's count is followed: when a message shows a count other than the one
  expected (a message dropped, a restart of either side, or the first one heard), every
  session of that shard's users is checked with the shard again (``recheck``), which
  ends those whose key no longer works.  So a revocation this feed missed keeps a
  session at most about one heartbeat longer, and no session outlives its key by more.
"""

from __future__ import annotations

from collections.abc import Callable

from actors.accounts.protocol import KeyRevoked, KeysHeard
from bourse.ids import shard_of_user


class KeyWatch:
    def __init__(self, revoke: Callable[[int, int], None], recheck: Callable[[int], None]) -> None:
        self._revoke = revoke
        self._recheck = recheck
        self._counts: dict[int, int] = {}  # shard -> revocations seen

    def on_event(self, event: KeyRevoked | KeysHeard) -> None:
        match event:
            case KeyRevoked(user_id=user_id, key_id=key_id, revocations=count):
                shard = shard_of_user(user_id)
                self._revoke(user_id, key_id)
                self._follow(shard, count, count - 1)
            case KeysHeard(shard=shard, revocations=count):
                self._follow(shard, count, count)

    def _follow(self, shard: int, count: int, expected_before: int) -> None:
        seen = self._counts.get(shard)
        self._counts[shard] = count
        if seen != expected_before:
            self._recheck(shard)
