"""The leader watch: everything at start, then every change in order, across a cut link,
an etcd restart and a compaction; and its use from asyncio."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import httpx
from coordkit import MakeCoordinator
from gateway_kit import wait_until
from tcpcut import TcpCut

from bourse.coordination import CoordinatorSettings
from harness.etcd import Etcd
from transport.coordinator import Coordinator, LeaderChange


class Seen:
    """What a watch delivered, as (group, instance or None, epoch or None)."""

    def __init__(self) -> None:
        self.changes: list[LeaderChange] = []
        self._lock = threading.Lock()
        self.threads: set[str] = set()

    def __call__(self, change: LeaderChange) -> None:
        with self._lock:
            self.changes.append(change)
            self.threads.add(threading.current_thread().name)

    def states(self) -> list[tuple[str, str | None, int | None]]:
        with self._lock:
            return [
                (c.group, c.leader.instance if c.leader else None, c.epoch) for c in self.changes
            ]


def take_turns(
    one: Coordinator, groups: list[str], rounds: int
) -> list[tuple[str, str | None, int | None]]:
    """Lead and resign each group in turn; what a watcher should see, in order."""
    expected: list[tuple[str, str | None, int | None]] = []
    for _ in range(rounds):
        for group in groups:
            epoch = one.campaign(group, "m1", {"router": "tcp://m1:1"}, primary=True)
            assert epoch is not None
            expected.append((group, "m1", epoch))
        for group in groups:
            one.resign(group)
            expected.append((group, None, None))
    return expected


def test_the_watch_reads_every_leader_then_sees_every_change_in_order(
    coordinator: MakeCoordinator,
) -> None:
    writer = coordinator()
    before = writer.campaign("engine-BTC-USDT", "m0", {}, primary=True)
    seen = Seen()
    watch = coordinator().watch_leaders(seen)
    try:
        assert {g: (ld.instance, ld.epoch) for g, ld in watch.initial.items()} == {
            "engine-BTC-USDT": ("m0", before)
        }
        expected = take_turns(writer, ["accounts-0", "accounts-1", "engine-ETH-USDT"], 3)
        wait_until(lambda: len(seen.changes) >= len(expected), 10.0, "every change")
        assert seen.states() == expected
        revisions = [change.revision for change in seen.changes]
        assert revisions == sorted(set(revisions))
        assert seen.threads == {"leader-watch"}
    finally:
        watch.close()


def test_the_watch_resumes_after_a_cut_link_without_missing_a_change(
    server: Etcd, settings: CoordinatorSettings, coordinator: MakeCoordinator
) -> None:
    cut = TcpCut(server.client_port)
    seen = Seen()
    watcher = coordinator(dataclasses.replace(settings, endpoints=(cut.endpoint,)))
    watch = watcher.watch_leaders(seen)
    writer = coordinator()
    try:
        expected = take_turns(writer, ["accounts-0"], 1)
        wait_until(lambda: len(seen.changes) == len(expected), 10.0, "changes before the cut")
        cut.cut()
        expected += take_turns(writer, ["accounts-0", "accounts-1"], 2)
        cut.mend()
        wait_until(lambda: len(seen.changes) >= len(expected), 10.0, "changes made while cut")
        assert seen.states() == expected
    finally:
        watch.close()
        cut.close()


def test_the_watch_survives_an_etcd_restart(server: Etcd, coordinator: MakeCoordinator) -> None:
    seen = Seen()
    watch = coordinator().watch_leaders(seen)
    try:
        writer = coordinator()
        expected = take_turns(writer, ["engine-BTC-USDT"], 2)
        wait_until(lambda: len(seen.changes) == len(expected), 10.0, "changes before")
        server.restart()
        writer = coordinator()  # a new lease: the old one's keepalives failed meanwhile
        expected += take_turns(writer, ["engine-BTC-USDT", "accounts-0"], 2)
        wait_until(lambda: len(seen.changes) >= len(expected), 10.0, "changes after")
        assert seen.states() == expected
    finally:
        watch.close()


def test_a_watch_behind_a_compaction_catches_up_on_the_state(
    server: Etcd, settings: CoordinatorSettings, coordinator: MakeCoordinator
) -> None:
    cut = TcpCut(server.client_port)
    seen = Seen()
    watch = coordinator(dataclasses.replace(settings, endpoints=(cut.endpoint,))).watch_leaders(
        seen
    )
    writer = coordinator()
    try:
        gone = writer.campaign("accounts-0", "m1", {}, primary=True)
        wait_until(lambda: len(seen.changes) == 1, 10.0, "the first change")
        cut.cut()
        writer.resign("accounts-0")
        take_turns(writer, ["accounts-1"], 2)
        stays = writer.campaign("engine-BTC-USDT", "m1", {}, primary=True)
        _, revision = writer.leaders()
        httpx.post(
            server.endpoint + "/v3/kv/compaction", json={"revision": str(revision)}
        ).raise_for_status()
        cut.mend()
        wait_until(lambda: len(seen.changes) >= 3, 10.0, "the state after the compaction")
        assert seen.states() == [
            ("accounts-0", "m1", gone),
            ("accounts-0", None, None),
            ("engine-BTC-USDT", "m1", stays),
        ]
        # And it follows on from there.
        writer.resign("engine-BTC-USDT")
        wait_until(lambda: len(seen.changes) == 4, 10.0, "the next change")
        assert seen.states()[-1] == ("engine-BTC-USDT", None, None)
    finally:
        watch.close()
        cut.close()


def test_no_change_is_delivered_after_close(coordinator: MakeCoordinator) -> None:
    seen = Seen()
    watch = coordinator().watch_leaders(seen)
    writer = coordinator()
    assert writer.campaign("accounts-0", "m1", {}, primary=True) is not None
    wait_until(lambda: len(seen.changes) == 1, 10.0, "the first change")
    watch.close()
    take_turns(writer, ["accounts-1"], 2)
    probe = Seen()
    last = coordinator().watch_leaders(probe)  # a watch that does see what followed
    writer.resign("accounts-0")
    wait_until(lambda: len(probe.changes) == 1, 10.0, "the later watch sees it")
    last.close()
    assert len(seen.changes) == 1


async def test_from_asyncio_calls_go_to_a_thread_and_changes_come_to_the_loop(
    settings: CoordinatorSettings,
) -> None:
    loop = asyncio.get_running_loop()
    changes: asyncio.Queue[LeaderChange] = asyncio.Queue()
    reader, writer = Coordinator(settings), Coordinator(settings)
    watch = await asyncio.to_thread(
        reader.watch_leaders, lambda change: loop.call_soon_threadsafe(changes.put_nowait, change)
    )
    try:
        epoch = await asyncio.to_thread(
            writer.campaign, "gateway-0", "g1", {"http": "http://g1:8000"}, primary=True
        )
        change = await asyncio.wait_for(changes.get(), 10.0)
        assert (change.group, change.epoch) == ("gateway-0", epoch)
        assert change.leader is not None and change.leader.payload == {"http": "http://g1:8000"}
    finally:
        watch.close()
        await asyncio.to_thread(writer.close)
        reader.close()
