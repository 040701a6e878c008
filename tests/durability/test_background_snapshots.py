"""Snapshots are written by a forked child while the actor serves on: an accounts shard
in-process with its real journal, and a real child process whose encoding the test holds
back on a pipe until it chooses to let it go."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from actors.accounts.actor import ROUTER, AccountsActor
from actors.accounts.ledger import Ledger
from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    CreateUser,
    Deposit,
    ErrorReply,
    UserCreated,
)
from bourse.config import Config, load_config
from bourse.journal import read_frames
from harness.cluster import write_config
from transport.runtime import Inbound, Outbox

SECRET = hashlib.sha256(b"snapshots").digest()
SNAPSHOT_EVERY = 5
encode = msgspec.msgpack.Encoder().encode
replies = msgspec.msgpack.Decoder(AccountsReply)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("BOURSE_DATA_DIR", str(tmp_path / "data"))
    return load_config(write_config(tmp_path, snapshot_every=SNAPSHOT_EVERY))


class Gate:
    """Holds the child's encoding back until :meth:`open` (a pipe survives the fork)."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()

    def wrap(self, encode_state: Callable[[], bytes]) -> Callable[[], bytes]:
        def gated() -> bytes:
            os.read(self.read_end, 1)
            return encode_state()

        return gated

    def open(self) -> None:
        os.write(self.write_end, b"g")

    def close(self) -> None:
        os.close(self.read_end)
        os.close(self.write_end)


@pytest.fixture
def gate() -> Iterator[Gate]:
    held = Gate()
    yield held
    held.close()


class Shard:
    def __init__(self, config: Config) -> None:
        self.actor = AccountsActor(config, 0)
        self.actor.open_journal(config)
        self.rid = 0
        created = self.request(CreateUser(SECRET))
        assert isinstance(created, UserCreated)
        self.auth = Auth(created.user_id, SECRET)

    def request(self, message: object) -> object:
        self.rid += 1
        out = Outbox()
        self.actor.on_batch([Inbound(ROUTER, b"client", self.rid, encode(message))], self.rid, out)
        self.actor.commit(out)
        return replies.decode(out.replies[0][3])

    def deposit(self, amount: int) -> None:
        assert not isinstance(self.request(Deposit(self.auth, "USDT", amount)), ErrorReply)


def restarted(config: Config, shard: Shard) -> AccountsActor:
    """The shard as a crash would leave it (journal closed, nothing else), recovered."""
    shard.actor.journal.close()
    again = AccountsActor(config, 0)
    again.open_journal(config)
    return again


def snapshot_hash(config: Config, path: Path) -> str:
    frames, _ = read_frames(path.read_bytes())
    return Ledger.restore(config, frames[0]).state_hash()


def test_the_shard_serves_while_its_snapshot_is_written_and_the_snapshot_is_the_fork(
    config: Config,
    gate: Gate,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shard = Shard(config)
    monkeypatch.setattr(shard.actor, "snapshot_state", gate.wrap(shard.actor.snapshot_state))
    while shard.actor.snapshot_writer is None:
        shard.deposit(1_000_000)
    writer = shard.actor.snapshot_writer
    at_fork = shard.actor.state_hash()

    for _ in range(3 * SNAPSHOT_EVERY):  # the child is held, and the shard answers on
        shard.deposit(1_000_000)
    assert writer.poll() is None
    assert shard.actor.snapshot_writer is writer, "one writer at a time"

    gate.open()
    with caplog.at_level(logging.INFO, logger="durable"):
        shard.actor.reap_snapshot(wait=True)
    assert shard.actor.snapshot_writer is None
    written = [r for r in caplog.records if r.getMessage() == "snapshot written"]
    assert len(written) == 1
    assert shard.actor.snapshot_covers == writer.index
    snapshot = shard.actor.journal.snapshot_path(writer.index)
    assert snapshot_hash(config, snapshot) == at_fork
    folder = shard.actor.journal.folder
    assert [p.name for p in folder.glob("journal-*.log")] == [f"journal-{writer.index:012d}.log"]

    live = shard.actor.state_hash()
    recovered = restarted(config, shard)
    assert recovered.state_hash() == live
    assert recovered.replayed == shard.rid - writer.index


def test_a_failed_snapshot_leaves_the_journal_whole_and_the_next_one_is_tried(
    config: Config,
    gate: Gate,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shard = Shard(config)
    real_state = shard.actor.snapshot_state

    def failing() -> bytes:
        raise RuntimeError("disk full")

    monkeypatch.setattr(shard.actor, "snapshot_state", gate.wrap(failing))
    while shard.actor.snapshot_writer is None:
        shard.deposit(1_000_000)
    failed_at = shard.actor.snapshot_writer.index
    gate.open()
    with caplog.at_level(logging.INFO, logger="durable"):
        shard.actor.reap_snapshot(wait=True)
    failures = [r for r in caplog.records if r.getMessage() == "snapshot failed"]
    assert [r.__dict__["fields"]["exit_status"] for r in failures] == [1]
    assert (shard.actor.snapshot_failures, shard.actor.snapshot_covers) == (1, 0)
    folder = shard.actor.journal.folder
    assert not list(folder.glob("snapshot-*"))
    assert sorted(p.name for p in folder.glob("journal-*.log"))[0] == "journal-000000000000.log"

    monkeypatch.setattr(shard.actor, "snapshot_state", real_state)
    while shard.actor.snapshot_writer is None:  # the next one comes after as many records
        shard.deposit(1_000_000)
    assert shard.actor.snapshot_writer.index >= failed_at + SNAPSHOT_EVERY
    shard.actor.reap_snapshot(wait=True)
    live = shard.actor.state_hash()
    assert restarted(config, shard).state_hash() == live


def test_a_clean_stop_waits_for_the_writer_and_snapshots_in_process(
    config: Config, gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    shard = Shard(config)
    monkeypatch.setattr(shard.actor, "snapshot_state", gate.wrap(shard.actor.snapshot_state))
    while shard.actor.snapshot_writer is None:
        shard.deposit(1_000_000)
    gate.open()  # the stop waits for this child, then writes one more itself
    gate.open()
    shard.deposit(1_000_000)
    live = shard.actor.state_hash()
    shard.actor.on_stop()
    recovered = restarted(config, shard)
    assert (recovered.replayed, recovered.state_hash()) == (0, live)


def test_an_unfinished_snapshot_file_is_cleared_at_recovery(config: Config) -> None:
    shard = Shard(config)
    shard.deposit(1_000_000)
    live = shard.actor.state_hash()
    folder = shard.actor.journal.folder
    (folder / "snapshot-000000000002.tmp").write_bytes(b"half a snapshot")
    assert restarted(config, shard).state_hash() == live
    assert not list(folder.glob("*.tmp"))


def test_a_fork_that_fails_is_logged_and_the_shard_serves_on(
    config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shard = Shard(config)

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    with caplog.at_level(logging.INFO, logger="durable"):
        for _ in range(2 * SNAPSHOT_EVERY):
            shard.deposit(1_000_000)
    assert shard.actor.snapshot_writer is None
    assert [r.getMessage() for r in caplog.records].count("snapshot not begun") == 2
    assert shard.actor.snapshot_failures == 2
    live = shard.actor.state_hash()
    assert restarted(config, shard).state_hash() == live
