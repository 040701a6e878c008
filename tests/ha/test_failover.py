"""Hot standbys on hosts of their own (network namespaces), etcd deciding who leads: a
leader killed, frozen or cut off under load hands over to its standby, and no
acknowledged order or balance is lost."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hakit import Load, Trader, check_exchange, new_traders

from harness.hostcluster import HostCluster, Layout, host_cluster

ENGINE = "engine-BTC-USDT"
SNAPSHOT_EVERY = 300  # small: leader and standby compare state hashes often

# The primaries on two hosts, each standby on the other one, the gateway and feed apart.
CROSSED = Layout(
    markets={"BTC-USDT": ("a", "b")},
    shards=[("a", "b"), ("b", "a")],
    edge="c",
    journal=f"snapshot_every = {SNAPSHOT_EVERY}",
)
# Every primary on one host, every standby on another.
SIDE_BY_SIDE = Layout(
    markets={"BTC-USDT": ("a", "b")},
    shards=[("a", "b")],
    edge="c",
    journal=f"snapshot_every = {SNAPSHOT_EVERY}",
)


def until(condition: Callable[[], object], what: str, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # polling the exchange's own answers


def acked(traders: list[Trader]) -> int:
    return sum(len(t.acked) for t in traders)


def more_acked(traders: list[Trader], count: int = 40) -> Callable[[], bool]:
    target = acked(traders) + count
    return lambda: acked(traders) >= target


def led_anew(c: HostCluster, pair: str, epoch: int) -> Callable[[], bool]:
    """A newer leadership (the other instance, or the same one restarted and elected)."""
    return lambda: c.pair_status(pair).epoch > epoch


def in_sync(c: HostCluster, pair: str) -> Callable[[], bool]:
    def check() -> bool:
        status = c.pair_status(pair)
        return status.standby_in_sync and status.standby_held == status.index

    return check


def all_logs(c: HostCluster) -> str:
    return "".join(c.log(host).read_text() for host in c.layout.host_names())


@pytest.fixture
def crossed(tmp_path: Path) -> Iterator[HostCluster]:
    with host_cluster(tmp_path, CROSSED) as c:
        for host in CROSSED.host_names():
            c.start_host(host)
        c.wait_healthy()
        for pair in (ENGINE, "accounts-0", "accounts-1"):
            until(in_sync(c, pair), f"{pair}'s standby in sync")
        yield c


def test_killed_primaries_lose_no_acknowledged_order(crossed: HostCluster) -> None:
    c = crossed
    with c.api() as api:
        traders = new_traders(api, 4)
        base = str(api.base_url)
        with Load(base, traders) as load:
            until(more_acked(traders), "orders before any kill")
            for victims in ([ENGINE], ["accounts-0"], [ENGINE, "accounts-1"]):
                epochs = {pair: c.pair_status(pair).epoch for pair in victims}
                for pair in victims:
                    os.kill(c.leader(pair)[2], signal.SIGKILL)
                for pair, epoch in epochs.items():
                    until(led_anew(c, pair, epoch), f"a new leader of {pair}")
                until(more_acked(traders), f"orders after killing {victims}")
        assert load.placed > acked(traders) > 0
        for pair in (ENGINE, "accounts-0", "accounts-1"):
            until(in_sync(c, pair), f"{pair}'s old leader back in sync as the standby")
        check_exchange(api, traders)
    logs = all_logs(c)
    assert "state hash differs" not in logs
    assert "state hash agrees with the leader" in logs
    assert logs.count("installed the leader's state") >= 4  # every old leader, again


def test_a_frozen_leader_never_acts_again_and_rejoins_as_the_standby(
    crossed: HostCluster,
) -> None:
    c = crossed
    with c.api() as api:
        traders = new_traders(api, 2)
        with Load(str(api.base_url), traders):
            until(more_acked(traders), "orders before the freeze")
            instance, host, pid = c.leader(ENGINE)
            epoch = c.pair_status(ENGINE).epoch
            os.kill(pid, signal.SIGSTOP)
            until(led_anew(c, ENGINE, epoch), "the standby leading")
            until(more_acked(traders), "orders through the new leader")
            os.kill(pid, signal.SIGCONT)
            # Resumed, it finds its lease gone before it sends anything, and steps down.
            until(lambda: len(c.started_pids(host, instance)) == 2, "its restart")
            until(in_sync(c, ENGINE), "the old leader following")
            until(more_acked(traders), "orders after it rejoined")
        check_exchange(api, traders)
    assert "fenced: stepping down" in c.log(host).read_text()


def test_a_leader_cut_off_the_network_is_replaced_and_rejoins_when_it_returns(
    crossed: HostCluster,
) -> None:
    c = crossed
    if not c.network.isolated:
        pytest.fail("a network cut needs hosts in network namespaces (root)")
    with c.api() as api:
        traders = new_traders(api, 2)
        with Load(str(api.base_url), traders):
            until(more_acked(traders), "orders before the cut")
            _, host, _ = c.leader(ENGINE)
            epoch = c.pair_status(ENGINE).epoch
            c.network.cut(host)
            until(led_anew(c, ENGINE, epoch), "the standby leading")
            until(more_acked(traders), "orders through the new leader")
            c.network.heal(host)
            until(in_sync(c, ENGINE), "the old leader following again")
        check_exchange(api, traders)
    assert "fenced: stepping down" in c.log(host).read_text()


def test_without_its_standby_a_primary_goes_on_alone_and_the_standby_catches_up(
    tmp_path: Path,
) -> None:
    with host_cluster(tmp_path, SIDE_BY_SIDE) as c:
        for host in SIDE_BY_SIDE.host_names():
            c.start_host(host)
        c.wait_healthy()
        until(in_sync(c, ENGINE), "the standby in sync")
        with c.api() as api:
            traders = new_traders(api, 2)
            with Load(str(api.base_url), traders):
                until(more_acked(traders), "orders with both")
                c.stop_host("b")  # every standby gone
                until(lambda: not c.pair_status(ENGINE).standby_in_sync, "the standby dropped")
                until(more_acked(traders), "orders alone")
                c.start_host("b")
                for pair in (ENGINE, "accounts-0"):
                    until(in_sync(c, pair), f"{pair}'s standby caught up")
                until(more_acked(traders), "orders with both again")
            check_exchange(api, traders)
        assert "follower dropped from the in-sync set" in c.log("a").read_text()
