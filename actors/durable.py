"""Durability shared by the engine and accounts actors: journal, snapshots, replay.

Invariants:
- Every inbound message that can change state is recorded (with its turn's time,
  socket, peer and request id) before the turn's results leave the process: the runtime
  calls ``commit`` before it sends, and ``commit`` writes and fsyncs the turn's records
  (and any written before them).  ``must_sync`` may say a turn's results do not depend
  on its records being on disk; then they are only written, and the next syncing
  commit makes them durable.
- Replay feeds the recorded messages through the same code path with a throwaway outbox:
  the actor reaches the state it had, and sends nothing it already sent (peers catch up
  by sequence number instead).
- A snapshot is begun at the first turn boundary past each multiple of
  ``journal.snapshot_every`` records and written by a child process while the actor
  serves on (see :mod:`actors.snapshot_writer`); on a clean stop one is written
  in-process, so a clean restart replays nothing.  The rule depends on the journal index
  alone, so a leader and its standby, whose turns are the same batches, snapshot at the
  same indices and can compare state hashes there.
- An actor with a standby (:mod:`actors.pair`) serves clients only while it leads; the
  turn's outputs leave only once the follower holds the records they depend on.  An
  actor without one serves from the start, as always.
- ``applying`` is the journal's length counting the record being applied (live or in a
  replay); ``applied`` runs once the records applied so far are committed (after a
  turn's commit, after each replayed run of records) and ``make_durable`` before a
  snapshot is begun: the hooks of state an actor keeps beside its snapshot (a shard's
  history store).
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod

import msgspec

from actors.pair import Pair
from actors.replication import PairStatus
from actors.snapshot_writer import SnapshotWriter
from bourse.config import Config, data_dir
from bourse.journal import Journal
from bourse.metrics import ActorMetrics
from transport.runtime import Actor, Inbound, Outbox, Runtime

log = logging.getLogger("durable")


class Entry(msgspec.Struct, array_like=True, frozen=True, gc=False):
    time: int
    socket: str
    peer: bytes
    rid: int
    body: bytes


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Entry)


class DurableActor(Actor):
    config: Config
    journal: Journal
    snapshot_every: int
    pair: Pair | None = None
    _epochs: dict[str, int]
    replayed: int = 0
    snapshot_writer: SnapshotWriter | None = None
    snapshot_begun: int = 0  # journal records the newest snapshot begun covers
    snapshot_covers: int = 0  # journal records the newest snapshot on disk covers
    snapshot_failures: int = 0
    applying: int = 0

    def open_journal(self, config: Config) -> None:
        """Recover the state from disk; call once, before serving."""
        self._epochs = {}
        started = time.perf_counter()
        self.journal = Journal(data_dir() / self.name, fsync=config.journal.fsync == "batch")
        self.snapshot_every = config.journal.snapshot_every
        snapshot, covered, entries = self.journal.recover()
        if snapshot is not None:
            self.restore(snapshot)
        self.recovered(covered)
        self.snapshot_begun = self.snapshot_covers = covered
        self.apply_entries(entries)
        self.replayed = len(entries)
        log.info(
            "recovered",
            extra={
                "fields": {
                    "actor": self.name,
                    "snapshot_covers": covered,
                    "replayed": len(entries),
                    "seconds": round(time.perf_counter() - started, 3),
                    "state_hash": self.state_hash(),
                }
            },
        )

    def apply_entries(self, payloads: list[bytes]) -> None:
        """Apply journal entries through the replay path (recovery, and a follower taking
        its leader's batches): the state moves as the leader's did, nothing is sent."""
        throwaway = Outbox()
        replay = self.replay
        decode = _decoder.decode
        first = self.journal.next_index - len(payloads)
        for count, payload in enumerate(payloads, 1):
            entry = decode(payload)
            self.applying = first + count
            replay(Inbound(entry.socket, entry.peer, entry.rid, entry.body), entry.time, throwaway)
            if count % 1024 == 0:
                throwaway.clear()
                self.applied()
        throwaway.clear()
        self.applied()

    def recovered(self, covered: int) -> None:
        """The snapshot covering the first ``covered`` records is restored (or there was
        none: 0); the records after it are replayed next."""

    def applied(self) -> None:
        """The records applied so far are committed to the journal."""

    def make_durable(self) -> None:
        """A snapshot is about to begin: make durable what it relies on besides itself."""

    def install_state(self) -> bytes:
        """The state a follower that needs everything is sent (``restore`` takes it)."""
        return self.snapshot_state()

    # --- the runtime's hooks, with or without a standby -----------------------------------

    def setup(self, runtime: Runtime) -> None:
        """Recover, then serve at once, or (with a standby) stand by until elected."""
        self.open_journal(self.config)
        self.pair = self.make_pair()
        if self.pair is None:
            self.serve(runtime)
        else:
            self.pair.setup(runtime)

    def make_pair(self) -> Pair | None:
        """The pair this instance belongs to, when it has a standby (set by the command
        that starts it)."""
        return None

    def on_batch(self, batch: list[Inbound], now: int, out: Outbox) -> None:
        pair = self.pair
        if pair is not None:
            batch = pair.take(batch, out)
            if not pair.leading:
                return
        if batch:
            self.on_messages(batch, now, out)

    def on_idle(self, now: int, out: Outbox) -> None:
        pair = self.pair
        if pair is not None:
            pair.idle()
            if not pair.leading:
                return
        self.on_quiet(now, out)

    @property
    def epoch(self) -> int:
        """This instance's leadership, stamped on what it sends to other actors (0 for an
        actor without a standby)."""
        pair = self.pair
        return pair.log.epoch if pair is not None and pair.log is not None else 0

    def fresh(self, peer: str, epoch: int) -> bool:
        """Whether a message of ``peer``'s leadership ``epoch`` may be applied: never one
        older than the newest seen from that peer (its sender was replaced).  Not state:
        a replay applies what was applied."""
        seen = self._epochs.get(peer, 0)
        if epoch < seen:
            log.warning(
                "refused a message of an old leadership",
                extra={"fields": {"peer": peer, "epoch": epoch, "newest": seen}},
            )
            return False
        self._epochs[peer] = epoch
        return True

    def pair_status(self) -> PairStatus:
        index = self.journal.next_index
        pair = self.pair
        if pair is None or pair.log is None:
            return PairStatus(self.name, index)
        return PairStatus(
            self.name,
            index,
            pair.log.epoch,
            pair.partner.name,
            pair.follower_held,
            pair.in_sync,
        )

    def on_quiet(self, now: int, out: Outbox) -> None:
        """No message came for a while (and this instance serves)."""

    @abstractmethod
    def serve(self, runtime: Runtime) -> None:
        """Open the sockets clients and peers use (when this instance starts to lead)."""

    @abstractmethod
    def on_messages(self, batch: list[Inbound], now: int, out: Outbox) -> None: ...

    def record(self, now: int, message: Inbound) -> None:
        self.journal.append(
            _encoder.encode(Entry(now, message.socket, message.peer, message.rid, message.body))
        )
        self.applying = self.journal.appended

    def commit(self, out: Outbox) -> None:
        outputs_wait = self.must_sync(out)
        pair = self.pair
        if pair is None:
            self.journal.commit(sync=outputs_wait)
        else:
            # Streamed before the local fsync, so the two disks work at once.
            pair.committed(self.journal.commit(sync=False))
            self.journal.commit(sync=outputs_wait)
            pair.settle(outputs_wait)
        self.applied()
        self.maybe_snapshot()

    def maybe_snapshot(self) -> None:
        """Reap a finished snapshot child; begin a snapshot once the journal passed the
        next multiple of ``snapshot_every`` (at a batch boundary: a leader's turn, or the
        same batch applied by its follower)."""
        if self.snapshot_writer is not None:
            self.reap_snapshot(wait=False)
        journaled = self.journal.next_index
        every = self.snapshot_every
        if self.snapshot_writer is None and journaled // every > self.snapshot_begun // every:
            self.snapshot_begun = journaled  # a failure waits as long as a success
            try:
                self.make_durable()
                self.snapshot_writer = SnapshotWriter(self.journal, self.snapshot_state)
            except OSError as error:  # no fork (memory, process limit): try again later
                self.snapshot_failures += 1
                log.error(
                    "snapshot not begun",
                    extra={"fields": {"actor": self.name, "error": str(error)}},
                )

    def take_snapshot(self) -> None:
        """Write a snapshot now, in this process (on a clean stop: nothing is left to
        serve, and the restart should replay nothing)."""
        if self.snapshot_writer is not None:
            self.reap_snapshot(wait=True)
        self.make_durable()
        self.journal.snapshot(self.snapshot_state())
        self.snapshot_begun = self.snapshot_covers = self.journal.next_index

    def reap_snapshot(self, wait: bool) -> None:
        writer = self.snapshot_writer
        assert writer is not None
        status = writer.poll(wait)
        if status is None:
            return
        self.snapshot_writer = None
        fields: dict[str, object] = {
            "actor": self.name,
            "covers": writer.index,
            "seconds": round(writer.seconds, 3),
            "fork_ms": round(writer.fork_seconds * 1000, 2),
        }
        if status == 0:
            fields["bytes"] = self.journal.snapshot_path(writer.index).stat().st_size
            self.journal.finish_snapshot(writer.index)
            self.snapshot_covers = writer.index
            log.info("snapshot written", extra={"fields": fields})
            digest = writer.digest()
            if self.pair is not None and digest is not None:
                self.pair.snapshot_digest(writer.index, digest)
        else:
            self.snapshot_failures += 1
            # The journal keeps every segment, so recovery stays correct; the next
            # snapshot is tried after another ``snapshot_every`` records.
            log.error("snapshot failed", extra={"fields": {**fields, "exit_status": status}})

    def register_gauges(self, metrics: ActorMetrics) -> None:
        """What an operator watches to know that snapshots keep restarts short."""
        metrics.gauge(
            "bourse_records_since_snapshot",
            "Journal records no snapshot on disk covers yet: what a restart would replay",
            lambda: self.journal.next_index - self.snapshot_covers,
        )
        metrics.gauge(
            "bourse_snapshot_failures",
            "Snapshots that failed or could not begin since the actor started",
            lambda: self.snapshot_failures,
        )

    def on_stop(self) -> None:
        self.take_snapshot()
        self.journal.close()
        log.info("stopped with a snapshot", extra={"fields": {"state_hash": self.state_hash()}})

    def must_sync(self, out: Outbox) -> bool:
        """Whether what ``out`` holds may leave only once the records are on disk."""
        return bool(out.replies or out.sends or out.publications)

    @abstractmethod
    def snapshot_state(self) -> bytes: ...

    @abstractmethod
    def restore(self, data: bytes) -> None: ...

    @abstractmethod
    def replay(self, message: Inbound, now: int, out: Outbox) -> None: ...

    @abstractmethod
    def state_hash(self) -> str: ...
