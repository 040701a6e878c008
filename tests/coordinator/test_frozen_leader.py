"""A leader that is a real process, frozen (SIGSTOP) or killed (SIGKILL) while it leads."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from coordkit import MakeCoordinator, wins
from gateway_kit import wait_until

from bourse.coordination import CoordinatorSettings
from harness.contender import Contender
from harness.etcd import Etcd

GROUP = "accounts-0"
TAKEOVER_BOUND_S = 1.0


@pytest.fixture
def leader(server: Etcd, settings: CoordinatorSettings) -> Iterator[Contender]:
    """A process that seeded GROUP as its primary and put "standby" in the in-sync set."""
    process = Contender(
        server.endpoint, settings.prefix, GROUP, "primary", primary=True, add_to_isr=["standby"]
    )
    try:
        assert process.wait_for("won") is not None
        yield process
    finally:
        process.stop()


def test_a_frozen_leader_resumed_sees_it_no_longer_leads(
    leader: Contender, coordinator: MakeCoordinator
) -> None:
    first = leader.status()
    assert first["leading"] is not None and first["remaining_s"] > 0
    standby = coordinator()
    assert standby.campaign(GROUP, "standby", {}) is None

    leader.freeze()
    wait_until(lambda: wins(standby, GROUP, "standby"), 10.0, "takeover")
    new_epoch = standby.leading(GROUP)
    leader.thaw()

    # Its first answer, read locally the moment it runs again: not leading.
    after = leader.status()
    assert after["leading"] is None
    assert after["remaining_s"] <= 0
    assert new_epoch is not None and first["leading"] < new_epoch
    told = {"lost": {GROUP: first["leading"]}}
    wait_until(lambda: told in leader.said, 5.0, "the old leader hears it lost")
    current = standby.leader(GROUP)
    assert current is not None and current.instance == "standby"


def test_a_killed_leaders_group_is_taken_over_within_the_ttl_and_a_bound(
    leader: Contender, settings: CoordinatorSettings, coordinator: MakeCoordinator
) -> None:
    old = leader.status()["leading"]
    standby = coordinator()
    assert standby.campaign(GROUP, "standby", {}) is None
    killed_at = time.monotonic()
    leader.kill()
    wait_until(lambda: wins(standby, GROUP, "standby"), 10.0, "takeover")
    took = time.monotonic() - killed_at
    assert took < settings.lease_ttl_ms / 1000 + TAKEOVER_BOUND_S
    new = standby.leading(GROUP)
    assert new is not None and new > old
