"""Hot standbys: the leader of an engine or shard pair streams its journal to the other
instance, which keeps its own journal and state in step.  Sans I/O: messages in, what to
send and what to apply out; the sockets and the coordinator are the caller's.

The stream is the journal itself: each group-commit batch (one turn's records, framed as
they are written) goes to the follower numbered by its journal index, the position both
journals share.  The follower writes the batch to its own journal (under its own fsync
policy), acknowledges the index it now holds, and applies the records to its own state
machine through the replay path, so its state is the leader's.

Invariants:
- Positions: a journal index counts records from the start of the pair's history; a
  follower's journal holds exactly the leader's records ``0 .. held`` (its ``held``),
  because it either followed this very leader from a position the leader still had, or
  installed the leader's whole state at an index and followed from there.
- A follower says where it stands (:class:`Hello`: the epoch of the leader its records
  came from, and its next index).  The leader streams the batches after that index only
  when the follower followed this same epoch and the leader still holds those batches;
  otherwise it sends its whole state (:class:`Install`).  So records written by an older
  leader and never acknowledged (a divergent tail) are always replaced, never kept.
- A follower accepts batches only from the current epoch's leader, in order: a batch
  that does not start at its next index is a gap (it says Hello again) or a repeat
  (ignored).  It acknowledges only what its journal holds.
- The leader keeps the recent batches (at most ``max_bytes``) to catch a follower up;
  older ones live only in its journal and snapshots, and a follower that far behind is
  installed afresh.
- A :class:`HashCheck` carries the leader's state hash at an index where both sides take
  a snapshot (the same turn boundaries, the same rule): equal states hash equal, so a
  mismatch means the follower diverged, and it must never be promoted.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import msgspec


class _Repl(msgspec.Struct, frozen=True, gc=False, tag_field="t", forbid_unknown_fields=True):
    pass


class Hello(_Repl, tag="hello", frozen=True):
    """From a follower: the epoch its records follow, and the index it holds up to."""

    epoch: int
    held: int


class Batch(_Repl, tag="batch", frozen=True):
    """Records ``index .. index + count - 1`` of the leader of ``epoch``, framed as in a
    journal segment."""

    epoch: int
    index: int
    count: int
    frames: bytes


class Install(_Repl, tag="install", frozen=True):
    """The leader's whole state after its records ``0 .. index - 1``."""

    epoch: int
    index: int
    state: bytes


class Ack(_Repl, tag="ack", frozen=True):
    """From a follower: its journal holds every record before ``held`` (of ``epoch``)."""

    epoch: int
    held: int


class HashCheck(_Repl, tag="hash", frozen=True):
    """The leader's state hash after its records ``0 .. index - 1``."""

    epoch: int
    index: int
    digest: str


ReplMessage = Hello | Batch | Install | Ack | HashCheck


class PairStatus(msgspec.Struct, frozen=True, gc=False):
    """What an actor's status says of its journal and, with a standby, of its pair."""

    instance: str  # the process that answered (the leader, when the actor has a standby)
    index: int  # the journal records it holds
    epoch: int = 0  # its leadership's epoch (0: no standby, no coordinator)
    standby: str | None = None
    standby_held: int = 0  # the records its follower acknowledged
    standby_in_sync: bool = False


@dataclass(frozen=True, slots=True)
class _Kept:
    index: int
    count: int
    frames: bytes


class LeaderLog:
    """The batches a leader keeps to catch a follower up, and where each follower is."""

    def __init__(self, epoch: int, next_index: int, max_bytes: int) -> None:
        self.epoch = epoch
        self.next_index = next_index
        self.max_bytes = max_bytes
        self._kept: deque[_Kept] = deque()
        self._bytes = 0

    @property
    def oldest(self) -> int:
        """The first index the kept batches start at (``next_index`` when none)."""
        return self._kept[0].index if self._kept else self.next_index

    def append(self, index: int, count: int, frames: bytes) -> Batch:
        """Keep the batch of records ``index ..`` just journaled; the message that sends it."""
        if index != self.next_index:
            raise ValueError(f"batch at {index} does not follow {self.next_index}")
        self._kept.append(_Kept(index, count, frames))
        self._bytes += len(frames)
        self.next_index = index + count
        while self._bytes > self.max_bytes and len(self._kept) > 1:
            self._bytes -= len(self._kept.popleft().frames)
        return Batch(self.epoch, index, count, frames)

    def catch_up(self, hello: Hello) -> list[Batch] | None:
        """The batches that bring a follower from ``hello`` to now, or None when only
        the whole state can (another epoch's records, or older than what is kept)."""
        if hello.epoch != self.epoch or not self.oldest <= hello.held <= self.next_index:
            return None
        batches = []
        for kept in self._kept:
            if kept.index + kept.count <= hello.held:
                continue
            if kept.index < hello.held:
                return None  # a follower mid-batch: it never acknowledges one
            batches.append(Batch(self.epoch, kept.index, kept.count, kept.frames))
        return batches


Verdict = Literal["apply", "repeat", "gap", "stale"]


class FollowerPosition:
    """A follower's side: where its journal stands and whose records it holds."""

    def __init__(self, epoch: int, held: int) -> None:
        self.epoch = epoch  # the epoch of the leader its records came from
        self.held = held

    def hello(self) -> Hello:
        return Hello(self.epoch, self.held)

    def judge(self, batch: Batch, leader_epoch: int) -> Verdict:
        """Whether to take ``batch`` from the leader of ``leader_epoch`` (the one the
        coordinator says leads now)."""
        if batch.epoch != leader_epoch or batch.epoch != self.epoch:
            return "stale"
        if batch.index == self.held:
            return "apply"
        return "repeat" if batch.index + batch.count <= self.held else "gap"

    def applied(self, batch: Batch) -> Ack:
        self.held = batch.index + batch.count
        return Ack(self.epoch, self.held)

    def installed(self, install: Install) -> Ack:
        self.epoch = install.epoch
        self.held = install.index
        return Ack(self.epoch, self.held)
