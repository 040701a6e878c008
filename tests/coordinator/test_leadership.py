"""Leadership of a group through etcd: one leader at a time, growing epochs, takeover when
a leader's lease ends, and a fencing deadline that passes before anyone else can lead."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping

import pytest
from coordkit import MakeCoordinator, wins
from gateway_kit import wait_until
from tcpcut import TcpCut

from bourse.coordination import CoordinatorSettings
from harness.etcd import Etcd
from transport.coordinator import Coordinator, NotLeading
from transport.lease import fence_clock

GROUP = "engine-BTC-USDT"
# etcd scans for expired leases every 500 ms; the rest is the campaign's round trip.
TAKEOVER_BOUND_S = 1.0


def seeded(make: MakeCoordinator, *standbys: str) -> tuple[Coordinator, int]:
    """A group led by "primary", with ``standbys`` in its in-sync set."""
    primary = make()
    epoch = primary.campaign(GROUP, "primary", {"router": "tcp://10.0.0.1:5000"}, primary=True)
    assert epoch is not None
    for name in standbys:
        primary.isr_add(GROUP, name)
    return primary, epoch


def race(contenders: dict[str, Coordinator]) -> dict[str, int | None]:
    """Every contender campaigns for GROUP at the same moment, each from a thread."""
    start = threading.Barrier(len(contenders))
    won: dict[str, int | None] = {}

    def run(name: str, one: Coordinator) -> None:
        start.wait()
        won[name] = one.campaign(GROUP, name, {"name": name})

    threads = [threading.Thread(target=run, args=item) for item in contenders.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_of_two_contenders_at_once_exactly_one_leads(coordinator: MakeCoordinator) -> None:
    primary, _ = seeded(coordinator, "a", "b")
    primary.resign(GROUP)
    for _ in range(5):
        contenders = {"a": coordinator(), "b": coordinator()}
        for one in contenders.values():
            one.campaign("warm-up", "x", {})  # lease granted outside the race
        won = race(contenders)
        winners = [name for name, epoch in won.items() if epoch is not None]
        assert len(winners) == 1, won
        leader = primary.leader(GROUP)
        assert leader is not None
        assert (leader.instance, leader.epoch) == (winners[0], won[winners[0]])
        assert leader.payload == {"name": winners[0]}
        loser = next(name for name in contenders if name not in winners)
        assert contenders[loser].leading(GROUP) is None
        contenders[winners[0]].close()


def test_epochs_grow_with_every_leadership(coordinator: MakeCoordinator) -> None:
    primary, first = seeded(coordinator, "standby")
    standby = coordinator()
    epochs = [first]
    for _ in range(3):
        primary.resign(GROUP)
        assert primary.leading(GROUP) is None
        epoch = standby.campaign(GROUP, "standby", {})
        assert epoch is not None
        epochs.append(epoch)
        standby.resign(GROUP)
        epoch = primary.campaign(GROUP, "primary", {})
        assert epoch is not None
        epochs.append(epoch)
    assert epochs == sorted(set(epochs))


def test_a_campaign_retried_by_its_winner_keeps_its_epoch(coordinator: MakeCoordinator) -> None:
    primary, epoch = seeded(coordinator)
    assert primary.campaign(GROUP, "primary", {}) == epoch
    assert primary.leading(GROUP) == epoch


def test_leaders_are_read_with_their_payload_and_epoch(coordinator: MakeCoordinator) -> None:
    one = coordinator()
    btc = one.campaign("engine-BTC-USDT", "m1", {"router": "tcp://m1:1"}, primary=True)
    eth = one.campaign("engine-ETH-USDT", "m2", {"router": "tcp://m2:1"}, primary=True)
    assert btc is not None and eth is not None and eth > btc
    reader = coordinator()
    leaders, revision = reader.leaders()
    assert revision >= eth
    assert {group: (leader.instance, leader.epoch) for group, leader in leaders.items()} == {
        "engine-BTC-USDT": ("m1", btc),
        "engine-ETH-USDT": ("m2", eth),
    }
    assert leaders["engine-ETH-USDT"].payload == {"router": "tcp://m2:1"}
    assert reader.leader("accounts-0") is None


def test_the_leaders_lease_is_the_one_asked_for(settings: CoordinatorSettings) -> None:
    """The harness's etcd honours a 1 s TTL (its minimum is 1.5 x a 500 ms election)."""
    one = Coordinator(settings)
    try:
        assert one.campaign(GROUP, "primary", {}, primary=True) is not None
        assert one.lease is not None and one.lease.ttl_s == 1
        assert 0 < one.lease.remaining() <= 1.0
    finally:
        one.close()


def test_the_loser_leads_once_the_leaders_keepalives_stop(
    server: Etcd, settings: CoordinatorSettings, coordinator: MakeCoordinator
) -> None:
    """The leader reaches etcd through a link that is then cut: its keepalives stop while
    etcd runs on.  Its fencing deadline passes before etcd lets the standby win, and the
    standby wins within the TTL and a bound."""
    cut = TcpCut(server.client_port)
    lost: list[Mapping[str, int]] = []
    try:
        behind_cut = dataclasses.replace(settings, endpoints=(cut.endpoint,))
        leader = coordinator(behind_cut, on_lost=lost.append)
        epoch = leader.campaign(GROUP, "primary", {}, primary=True)
        assert epoch is not None
        leader.isr_add(GROUP, "standby")
        standby = coordinator()
        assert standby.campaign(GROUP, "standby", {}) is None

        cut.cut()
        cut_at = fence_clock()
        assert leader.lease is not None
        won = None
        while won is None:
            won = standby.campaign(GROUP, "standby", {})
            won_at = fence_clock()
            assert won_at - cut_at < settings.lease_ttl_ms / 1000 + TAKEOVER_BOUND_S
        assert won > epoch
        # The old leader had stopped acting before the new one could start.
        assert leader.lease.deadline < won_at
        assert leader.leading(GROUP) is None
        wait_until(lambda: lost == [{GROUP: epoch}], 5.0, "the old leader hears it lost")
        with pytest.raises(NotLeading):
            leader.isr_add(GROUP, "someone")
    finally:
        cut.close()


def test_a_resigned_leadership_is_free_at_once(coordinator: MakeCoordinator) -> None:
    primary, epoch = seeded(coordinator, "standby")
    standby = coordinator()
    primary.resign(GROUP)
    taken = standby.campaign(GROUP, "standby", {})
    assert taken is not None and taken > epoch
    primary.resign(GROUP)  # no longer its own: the new leader keeps the key
    leader = standby.leader(GROUP)
    assert leader is not None and leader.instance == "standby"


def test_closing_without_revoking_lets_the_lease_run_out(coordinator: MakeCoordinator) -> None:
    primary, _ = seeded(coordinator, "standby")
    standby = coordinator()
    primary.close(revoke=False)
    assert primary.leading(GROUP) is None  # at once, locally
    assert standby.campaign(GROUP, "standby", {}) is None  # etcd still holds the key
    started = time.monotonic()
    wait_until(lambda: wins(standby, GROUP, "standby"), 5.0, "takeover")
    assert time.monotonic() - started < 1.0 + TAKEOVER_BOUND_S


@pytest.mark.parametrize(
    ("group", "instance", "payload", "named"),
    [
        ("engine/BTC", "a", {}, "`group`"),
        ("", "a", {}, "`group`"),
        ("g", "a/b", {}, "`instance`"),
        ("g", "-a", {}, "`instance`"),
        ("g", "a" * 101, {}, "`instance`"),
        ("g", "a", {"k": 1}, "`payload`"),
        ("g", "a", {str(n): "" for n in range(33)}, "`payload`"),
        ("g", "a", {"k": "v" * 513}, "`payload`"),
    ],
)
def test_bad_names_and_payloads_are_refused_before_any_call(
    group: str, instance: str, payload: dict[str, object], named: str
) -> None:
    settings = CoordinatorSettings(("http://127.0.0.1:9",), "/t", 1000, 250, 100)
    one = Coordinator(settings)
    try:
        with pytest.raises(ValueError, match=named):
            one.campaign(group, instance, payload)  # type: ignore[arg-type]
    finally:
        one.close()


def test_after_losing_its_lease_a_process_leads_again_on_a_new_one(
    server: Etcd, settings: CoordinatorSettings, coordinator: MakeCoordinator
) -> None:
    """Told of the loss, it may campaign from the callback itself (etcd may still hold
    the old key until it expires the old lease); it leads again on a new lease, with a
    greater epoch."""
    cut = TcpCut(server.client_port)
    from_callback: list[int | None] = []
    try:

        def campaign_again(lost: Mapping[str, int]) -> None:
            cut.mend()
            from_callback.append(leader.campaign(GROUP, "primary", {}))

        leader = coordinator(
            dataclasses.replace(settings, endpoints=(cut.endpoint,)), on_lost=campaign_again
        )
        first = leader.campaign(GROUP, "primary", {}, primary=True)
        assert first is not None and leader.lease is not None
        old_lease = leader.lease
        cut.cut()
        wait_until(lambda: from_callback != [], 10.0, "the loss, and a campaign after it")
        wait_until(lambda: wins(leader, GROUP, "primary"), 5.0, "leading again")
        again = leader.leading(GROUP)
        assert again is not None and again > first
        assert from_callback[0] in (None, again)
        assert leader.lease is not old_lease and old_lease.lost.is_set()
    finally:
        cut.close()
