"""One instance of an engine or shard pair at work: leading (serving, and streaming each
journal batch to the other instance) or following (taking that stream into its own
journal and state, ready to lead).  The I/O around :mod:`actors.replication`.

Invariants:
- Only the leader listens for clients: a follower binds its ROUTER and PUB when it is
  elected, so peers that dial both instances reach the leader alone.
- The leader sends each batch to an in-sync follower before its own fsync, and lets the
  turn's replies, requests and publications leave only once the follower acknowledged
  the batch (or once the coordinator dropped the follower from the in-sync set: then the
  leader goes on alone, and that follower cannot be elected until it caught up again).
  So everything a client was told exists on both hosts, or the only electable instance
  is the one that told it.
- A leader whose lease may have expired sends nothing more and exits at once; its
  supervisor starts it again, as a follower, which the new leader installs afresh (its
  journal may hold a batch nobody acknowledged).
- A follower takes batches only from the leader the coordinator names, in order; it
  acknowledges what its journal holds, then applies it through the replay path.
- Leader and follower compare state hashes at the snapshots they both take at the same
  index; a follower that disagrees marks itself diverged (never elected) and raises the
  alarm in its log and metrics.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec
import zmq

from actors.leadership import Leadership
from actors.replication import (
    Ack,
    Batch,
    FollowerPosition,
    HashCheck,
    Hello,
    Install,
    LeaderLog,
    ReplMessage,
)
from bourse.config import Instance
from bourse.peers import ANYONE
from transport.framing import pack_rid, send_frames
from transport.runtime import Inbound, Outbox, Runtime

if TYPE_CHECKING:
    from actors.durable import DurableActor

log = logging.getLogger("pair")

LEAD = "repl-lead"  # the ROUTER a leader streams from (its followers dial it)
FOLLOW = "repl-follow"  # the DEALER a follower dials the other instance with
KEEP_BYTES = 64 << 20  # recent batches a leader keeps to catch a follower up
ACK_TIMEOUT_S = 0.5  # a follower slower than this to acknowledge leaves the in-sync set
HELLO_EVERY_S = 1.0  # a follower with nothing coming says where it stands this often
EXIT_FENCED = 3  # the exit status of a leader that lost its lease

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(ReplMessage).decode


class Pair:
    def __init__(
        self,
        actor: DurableActor,
        me: Instance,
        partner: Instance,
        leadership: Leadership,
        domain: str,
    ) -> None:
        self.actor = actor
        self.me = me
        self.partner = partner
        self.leadership = leadership
        self.domain = domain
        self.leading = False
        self.epoch_path = actor.journal.folder / "epoch"
        self.position = FollowerPosition(self._stored_epoch(), actor.journal.next_index)
        self.log: LeaderLog | None = None
        self.follower: bytes | None = None  # the follower's ROUTER identity, once it spoke
        self.follower_held = 0
        self.in_sync = False
        self.runtime: Runtime | None = None
        self._hello_at = 0.0
        self._streamed_by = 0  # the epoch of the leader whose stream this follower takes
        self._digests: dict[int, str] = {}  # index -> this instance's state hash there
        self._leader_digests: dict[int, str] = {}
        self.diverged = False

    # --- set-up ------------------------------------------------------------------------

    def setup(self, runtime: Runtime) -> None:
        self.runtime = runtime
        assert self.me.repl is not None and self.partner.repl is not None
        runtime.bind_router(LEAD, self.domain, *self.me.repl.binds)
        partner = self.partner
        servers = [(self.partner.repl.connect, partner.name)]
        runtime.connect_dealer(FOLLOW, servers, partner.name, self.me.name.encode())
        log.info(
            "standing by",
            extra={"fields": {"instance": self.me.name, "held": self.position.held}},
        )

    def _stored_epoch(self) -> int:
        try:
            return int(self.epoch_path.read_text())
        except (OSError, ValueError):
            return 0

    def _store_epoch(self, epoch: int) -> None:
        temporary = self.epoch_path.with_suffix(".tmp")
        temporary.write_text(str(epoch))
        os.replace(temporary, self.epoch_path)

    # --- every turn --------------------------------------------------------------------

    def take(self, batch: list[Inbound], out: Outbox) -> list[Inbound]:
        """Handle the stream's messages; what is left for the actor (nothing unless it
        leads)."""
        self._follow_leadership()
        rest: list[Inbound] = []
        for message in batch:
            if message.socket == LEAD:
                self._on_follower_message(message)
            elif message.socket == FOLLOW:
                self._on_leader_message(message)
            elif self.leading:
                rest.append(message)
        if not self.leading:
            self._say_hello()
        return rest

    def idle(self) -> None:
        self._follow_leadership()
        if not self.leading:
            self._say_hello()

    def _follow_leadership(self) -> None:
        leadership = self.leadership
        changed = leadership.poll()
        if self.leading:
            if not leadership.may_act():
                self._fenced("the lease is gone")
            return
        if changed:
            self._hello_at = 0.0  # a new leader: say where we stand at once
        if leadership.leader is None:
            epoch = leadership.campaign()
            if epoch is not None:
                self._promote(epoch)

    # --- leading -----------------------------------------------------------------------

    def _promote(self, epoch: int) -> None:
        runtime = self.runtime
        assert runtime is not None
        self.leading = True
        self._store_epoch(epoch)
        self.position.epoch = epoch
        self.log = LeaderLog(epoch, self.actor.journal.next_index, KEEP_BYTES)
        self.follower = None
        self.in_sync = False
        log.warning(
            "leading",
            extra={
                "fields": {
                    "instance": self.me.name,
                    "epoch": epoch,
                    "index": self.actor.journal.next_index,
                }
            },
        )
        self.actor.serve(runtime)

    def _fenced(self, why: str) -> None:
        """Stop at once: a leader without its lease must not send anything more."""
        log.error("fenced: stepping down", extra={"fields": {"why": why}})
        logging.shutdown()
        os._exit(EXIT_FENCED)

    def _on_follower_message(self, message: Inbound) -> None:
        if not self.leading or message.sender not in (self.partner.name, ANYONE):
            return
        try:
            request = _decode(message.body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("a replication message does not decode")
            return
        self.follower = message.peer
        match request:
            case Hello():
                self._catch_up(request)
            case Ack():
                self._acked(request)

    def _catch_up(self, hello: Hello) -> None:
        """Bring a follower from where it says it stands: the batches it lacks, or the
        whole state (then it is out of the in-sync set until it acknowledged it)."""
        assert self.log is not None
        batches = self.log.catch_up(hello)
        if batches is None:
            if self.in_sync:
                self._set_in_sync(False, "it needs the whole state")
            state = self.actor.install_state()
            index = self.actor.journal.next_index
            log.info(
                "installing the follower",
                extra={"fields": {"index": index, "bytes": len(state), "from": hello.held}},
            )
            self._to_follower(Install(self.log.epoch, index, state))
            return
        self.follower_held = hello.held
        for batch in batches:
            self._to_follower(batch)

    def _acked(self, ack: Ack) -> None:
        assert self.log is not None
        if ack.epoch != self.log.epoch:
            return
        self.follower_held = max(self.follower_held, ack.held)
        if not self.in_sync and self.follower_held >= self.log.next_index:
            self._set_in_sync(True, "caught up")

    def _set_in_sync(self, in_sync: bool, why: str) -> None:
        if self.leadership.set_in_sync(self.partner.name, in_sync):
            self.in_sync = in_sync
            log.warning(
                "follower in sync" if in_sync else "follower dropped from the in-sync set",
                extra={"fields": {"follower": self.partner.name, "why": why}},
            )
        elif not in_sync:
            # Outputs may not leave while an electable follower lacks them: without the
            # coordinator's word, wait for it until the lease runs out.
            while not self.leadership.set_in_sync(self.partner.name, False):
                if not self.leadership.may_act():
                    self._fenced("could not drop a lagging follower")
                time.sleep(0.05)  # retrying the coordinator, bounded by the lease
            self.in_sync = False

    def _to_follower(self, message: Batch | Install | HashCheck) -> None:
        runtime = self.runtime
        if self.follower is None or runtime is None:
            return
        socket = runtime.socket(LEAD)
        # Gone, or not reading: it says Hello again, or leaves the in-sync set.
        with contextlib.suppress(zmq.ZMQError):
            send_frames(socket, (self.follower, pack_rid(0), _encode(message)), zmq.NOBLOCK)

    def committed(self, written: tuple[int, int, bytes] | None) -> None:
        """This turn's journal records were written (not yet made durable): stream them."""
        if not self.leading or written is None:
            return
        assert self.log is not None
        self._to_follower(self.log.append(*written))

    def settle(self, outputs_wait: bool) -> None:
        """Before the turn's outputs leave: the follower holds every record they depend
        on, or it is out of the in-sync set; and this process still leads."""
        if not self.leading:
            return
        assert self.log is not None
        if outputs_wait and self.in_sync and self.follower_held < self.log.next_index:
            self._wait_for_ack(self.log.next_index)
        if not self.leadership.may_act():
            self._fenced("the lease ran out")

    def _wait_for_ack(self, held: int) -> None:
        runtime = self.runtime
        assert runtime is not None
        socket = runtime.socket(LEAD)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while self.follower_held < held:
            left = deadline - time.monotonic()
            if left <= 0 or not socket.poll(int(left * 1000) + 1):
                if self.follower_held < held and time.monotonic() >= deadline:
                    self._set_in_sync(False, "no acknowledgement in time")
                    return
                continue
            for message in runtime.read_now(LEAD):
                self._on_follower_message(message)

    def snapshot_digest(self, index: int, digest: str) -> None:
        """A snapshot of this instance's state at ``index`` hashes to ``digest``."""
        if self.leading:
            assert self.log is not None
            self._to_follower(HashCheck(self.log.epoch, index, digest))
        else:
            self._digests[index] = digest
            self._compare(index)

    # --- following ---------------------------------------------------------------------

    def _say_hello(self) -> None:
        """Tell the leader where this follower stands: until its stream flows (after a
        start, a new leader, a gap), at most every ``HELLO_EVERY_S``."""
        leader = self.leadership.leader
        if leader is not None and leader[1] == self._streamed_by:
            return
        now = time.monotonic()
        if now - self._hello_at < HELLO_EVERY_S:
            return
        self._hello_at = now
        runtime = self.runtime
        if runtime is None or not runtime.is_up(FOLLOW):
            return
        hello = (pack_rid(0), _encode(self.position.hello()))
        with contextlib.suppress(zmq.ZMQError):
            send_frames(runtime.socket(FOLLOW), hello, zmq.NOBLOCK)

    def _ack(self, ack: Ack) -> None:
        runtime = self.runtime
        assert runtime is not None
        with contextlib.suppress(zmq.ZMQError):  # the leader will hear a Hello instead
            send_frames(runtime.socket(FOLLOW), (pack_rid(0), _encode(ack)), zmq.NOBLOCK)

    def _on_leader_message(self, message: Inbound) -> None:
        if self.leading:
            return
        leader = self.leadership.leader
        if leader is None or leader[0] != self.partner.name:
            return  # only the leader the coordinator names is followed
        try:
            update = _decode(message.body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("a replication message does not decode")
            return
        match update:
            case Batch():
                self._take_batch(update, leader[1])
            case Install():
                self._install(update, leader[1])
            case HashCheck():
                if update.epoch == leader[1]:
                    self._leader_digests[update.index] = update.digest
                    self._compare(update.index)

    def _take_batch(self, batch: Batch, epoch: int) -> None:
        verdict = self.position.judge(batch, epoch)
        if verdict == "gap" or verdict == "stale":
            self._streamed_by = 0
            self._hello_at = 0.0
            self._say_hello()
            return
        if verdict == "repeat":
            return
        actor = self.actor
        sync = actor.journal.fsync
        payloads = actor.journal.append_framed(batch.index, batch.count, batch.frames, sync)
        self._streamed_by = epoch
        self._ack(self.position.applied(batch))
        actor.apply_entries(payloads)
        actor.maybe_snapshot()  # at the leader's batch boundary, as the leader did

    def _install(self, install: Install, epoch: int) -> None:
        if install.epoch != epoch:
            return
        actor = self.actor
        actor.restore(install.state)
        actor.journal.install(install.index, install.state)
        actor.snapshot_begun = actor.snapshot_covers = install.index
        self._store_epoch(install.epoch)
        self._digests.clear()
        self._leader_digests.clear()
        log.warning(
            "installed the leader's state",
            extra={"fields": {"index": install.index, "epoch": install.epoch}},
        )
        self._streamed_by = epoch
        self._ack(self.position.installed(install))

    def _compare(self, index: int) -> None:
        mine, theirs = self._digests.get(index), self._leader_digests.get(index)
        if mine is None or theirs is None:
            return
        del self._digests[index], self._leader_digests[index]
        if mine == theirs:
            log.info("state hash agrees with the leader", extra={"fields": {"index": index}})
            return
        self.diverged = True
        log.critical(
            "state hash differs from the leader's: this instance will not be elected",
            extra={"fields": {"index": index, "mine": mine, "leader": theirs}},
        )
        self.leadership.mark_diverged()

    # --- what operators see ------------------------------------------------------------

    def lag(self) -> int:
        """Records the follower does not hold yet (as the leader sees it)."""
        if not self.leading or self.log is None:
            return 0
        return self.log.next_index - self.follower_held

    def gauges(self) -> dict[str, Callable[[], float]]:
        return {
            "bourse_pair_leading": lambda: float(self.leading),
            "bourse_pair_epoch": lambda: float(
                self.leadership.leader[1] if self.leadership.leader else 0
            ),
            "bourse_pair_follower_lag": lambda: float(self.lag()),
            "bourse_pair_follower_in_sync": lambda: float(self.in_sync),
            "bourse_pair_diverged": lambda: float(self.diverged),
        }


def pair_of(
    actor: DurableActor, instances: tuple[Instance, ...], me: Instance, domain: str
) -> Pair | None:
    """The pair ``me`` belongs to, or None for an actor without a standby."""
    if len(instances) < 2:
        return None
    from actors.coordinated import leadership_for

    partner = instances[1] if me is instances[0] else instances[0]
    group = instances[0].name
    return Pair(actor, me, partner, leadership_for(actor.config, group, me.name), domain)
