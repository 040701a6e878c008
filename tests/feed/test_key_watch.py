"""The feed's following of key revocations: a missed one is noticed by the count."""

from __future__ import annotations

from actors.accounts.protocol import KeyRevoked, KeysHeard
from bourse.ids import make_user_id
from feed.keys import KeyWatch


def watch() -> tuple[KeyWatch, list[tuple[int, int]], list[int]]:
    revoked: list[tuple[int, int]] = []
    rechecked: list[int] = []
    return KeyWatch(lambda u, k: revoked.append((u, k)), rechecked.append), revoked, rechecked


def test_revocations_in_order_end_their_sessions_and_nothing_more() -> None:
    keys, revoked, rechecked = watch()
    keys.on_event(KeysHeard(1, 4))
    assert rechecked == [1]  # the first count heard: what came before is checked once
    user = make_user_id(1, 7)
    keys.on_event(KeyRevoked(user, 2, 5))
    keys.on_event(KeysHeard(1, 5))
    keys.on_event(KeyRevoked(user, 3, 6))
    assert revoked == [(user, 2), (user, 3)] and rechecked == [1]


def test_a_missed_revocation_rechecks_the_shards_sessions() -> None:
    keys, revoked, rechecked = watch()
    keys.on_event(KeysHeard(0, 0))
    keys.on_event(KeysHeard(0, 1))  # a KeyRevoked was lost
    assert rechecked == [0, 0]
    keys.on_event(KeyRevoked(make_user_id(0, 1), 2, 3))  # and another before this one
    assert rechecked == [0, 0, 0] and revoked == [(make_user_id(0, 1), 2)]
    keys.on_event(KeysHeard(2, 0))
    keys.on_event(KeysHeard(2, 0))
    assert rechecked == [0, 0, 0, 2]  # a restarted feed, or a new shard: once
