"""Snapshots written by a forked child, so an actor never stops serving to take one.

Encoding a shard's whole state and writing it takes time in proportion to the state
(about 150 ms for 5 MB on a small VM), and the actor would answer nothing meanwhile.
``fork`` gives a child an exact, copy-on-write image of the state after the turn that
asked for the snapshot; the child encodes it, writes it and exits, while the parent goes
on with the next turn.

Invariants:
- At most one writer per actor at a time; the parent starts one only after
  :meth:`bourse.journal.Journal.begin_snapshot`, so the snapshot covers exactly the
  entries committed before the fork.
- The child touches nothing but the state and the file system (no sockets, no logging,
  no locks another thread may have held at the fork) and leaves through ``os._exit``, so
  it runs none of the parent's clean-up.
- The journal drops what a snapshot covers only after the parent has seen its child
  succeed.  A child that fails or is killed leaves the older snapshot and every segment
  in place, so recovery is as correct as without it.
- The child also leaves the state's hash (SHA-256 of the encoded state, the actors'
  ``state_hash``) in ``digest``'s file, so a leader and its standby can compare states
  at the same index without either encoding its state in the serving thread.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bourse.journal import Journal


class SnapshotWriter:
    """One snapshot being written by a child process."""

    def __init__(self, journal: Journal, encode: Callable[[], bytes]) -> None:
        self.journal = journal
        self.index = journal.begin_snapshot()
        self.started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            _write_and_exit(journal, self.index, encode, self.digest_path)
        self.pid = pid
        self.fork_seconds = time.perf_counter() - self.started

    @property
    def digest_path(self) -> Path:
        return self.journal.snapshot_path(self.index).with_suffix(".sha256")

    def digest(self) -> str | None:
        """The state hash the child wrote, once it succeeded."""
        try:
            return self.digest_path.read_text().strip() or None
        except OSError:
            return None

    def poll(self, wait: bool = False) -> int | None:
        """None while the child runs; then its exit status (0: the snapshot is on disk)."""
        pid, status = os.waitpid(self.pid, 0 if wait else os.WNOHANG)
        if pid == 0:
            return None
        return os.waitstatus_to_exitcode(status)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def _write_and_exit(
    journal: Journal, index: int, encode: Callable[[], bytes], digest_path: Path
) -> None:
    status = 1
    try:
        gc.disable()  # the child lives briefly; collecting would copy every page it scans
        os.nice(10)  # the actors serving orders come first when cores are scarce
        state = encode()
        journal.write_snapshot(index, state)
        digest_path.write_text(hashlib.sha256(state).hexdigest())
        status = 0
    except BaseException:
        with contextlib.suppress(OSError):
            os.write(2, f"snapshot {index} failed\n{traceback.format_exc()}".encode())
    finally:
        os._exit(status)
