"""The in-sync set: seeded by the first primary, changed only by the leader, and the only
instances (not marked diverged) that can ever be elected."""

from __future__ import annotations

import base64

import httpx
import pytest
from coordkit import MakeCoordinator

from bourse.coordination import CoordinatorSettings
from transport.coordinator import Coordinator, NotLeading
from transport.leaders import Keys

GROUP = "engine-ETH-USDT"


def led_by_primary(make: MakeCoordinator, *standbys: str) -> Coordinator:
    primary = make()
    assert primary.campaign(GROUP, "primary", {}, primary=True) is not None
    for name in standbys:
        primary.isr_add(GROUP, name)
    return primary


def test_a_fresh_group_is_seeded_by_its_primary_only(coordinator: MakeCoordinator) -> None:
    standby, primary = coordinator(), coordinator()
    assert standby.campaign(GROUP, "standby", {}) is None
    assert standby.isr_members(GROUP) == frozenset()
    epoch = primary.campaign(GROUP, "primary", {}, primary=True)
    assert epoch is not None
    assert primary.isr_members(GROUP) == {"primary"}
    leader = standby.leader(GROUP)
    assert leader is not None and (leader.instance, leader.epoch) == ("primary", epoch)


def test_once_seeded_no_other_primary_can_seed_again(coordinator: MakeCoordinator) -> None:
    primary = led_by_primary(coordinator)
    primary.resign(GROUP)
    impostor = coordinator()
    assert impostor.campaign(GROUP, "other", {}, primary=True) is None
    assert impostor.isr_members(GROUP) == {"primary"}
    assert impostor.leader(GROUP) is None


def test_a_non_member_cannot_be_elected_until_the_leader_adds_it(
    coordinator: MakeCoordinator,
) -> None:
    primary = led_by_primary(coordinator)
    standby = coordinator()
    primary.resign(GROUP)
    assert standby.campaign(GROUP, "standby", {}) is None
    assert primary.campaign(GROUP, "primary", {}) is not None
    primary.isr_add(GROUP, "standby")
    assert standby.isr_members(GROUP) == {"primary", "standby"}
    primary.resign(GROUP)
    assert standby.campaign(GROUP, "standby", {}) is not None


def test_only_the_leader_changes_the_set(coordinator: MakeCoordinator) -> None:
    primary = led_by_primary(coordinator, "standby")
    standby = coordinator()
    with pytest.raises(NotLeading):
        standby.isr_add(GROUP, "standby-2")
    with pytest.raises(NotLeading):
        standby.isr_remove(GROUP, "primary")
    primary.resign(GROUP)
    with pytest.raises(NotLeading):
        primary.isr_add(GROUP, "standby-2")
    assert standby.isr_members(GROUP) == {"primary", "standby"}


def test_a_leader_whose_epoch_is_over_changes_nothing(
    coordinator: MakeCoordinator, settings: CoordinatorSettings
) -> None:
    """Its lease is still valid, but its leader key is gone (an operator deleted it) and
    another leads: etcd refuses the change, and it stops leading."""
    primary = led_by_primary(coordinator, "standby")
    httpx.post(
        settings.endpoints[0] + "/v3/kv/deleterange",
        json={"key": _b64(Keys(settings.prefix).leader(GROUP))},
    ).raise_for_status()
    standby = coordinator()
    assert standby.campaign(GROUP, "standby", {}) is not None
    assert primary.leading(GROUP) is not None  # it cannot know without asking
    with pytest.raises(NotLeading, match="is over"):
        primary.isr_remove(GROUP, "standby")
    assert primary.leading(GROUP) is None
    assert standby.isr_members(GROUP) == {"primary", "standby"}


def test_a_removed_member_cannot_be_elected(coordinator: MakeCoordinator) -> None:
    primary = led_by_primary(coordinator, "standby")
    standby = coordinator()
    primary.isr_remove(GROUP, "standby")  # once this returns, the primary may go on alone
    assert standby.isr_members(GROUP) == {"primary"}
    primary.resign(GROUP)
    assert standby.campaign(GROUP, "standby", {}) is None


def test_a_leader_cannot_leave_its_own_set(coordinator: MakeCoordinator) -> None:
    primary = led_by_primary(coordinator, "standby")
    with pytest.raises(ValueError, match="a leader stays in its set"):
        primary.isr_remove(GROUP, "primary")
    assert primary.isr_members(GROUP) == {"primary", "standby"}


def test_a_diverged_member_cannot_be_elected_until_cleared(coordinator: MakeCoordinator) -> None:
    primary = led_by_primary(coordinator, "standby")
    standby = coordinator()
    standby.mark_diverged(GROUP, "standby", "state hash 9f.. differs at seq 1200")
    assert standby.diverged(GROUP) == {"standby"}
    primary.resign(GROUP)
    assert standby.campaign(GROUP, "standby", {}) is None
    standby.clear_diverged(GROUP, "standby")
    assert standby.diverged(GROUP) == frozenset()
    assert standby.campaign(GROUP, "standby", {}) is not None


def test_a_diverged_primary_cannot_seed(coordinator: MakeCoordinator) -> None:
    primary = coordinator()
    primary.mark_diverged(GROUP, "primary")
    assert primary.campaign(GROUP, "primary", {}, primary=True) is None
    assert primary.isr_members(GROUP) == frozenset()


def test_groups_do_not_share_a_set(coordinator: MakeCoordinator) -> None:
    """``engine-ETH`` is a prefix of ``engine-ETH-USDT``'s name, not of its keys."""
    one = coordinator()
    assert one.campaign("engine-ETH", "primary", {}, primary=True) is not None
    assert one.isr_members(GROUP) == frozenset()
    assert one.campaign(GROUP, "primary", {}, primary=True) is not None


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()
