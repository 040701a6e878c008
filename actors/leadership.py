"""Who leads an engine or shard pair, as the actors see it: an interface over the
coordinator (transport/coordinator.py), so the pair's logic does not depend on it.

Invariants:
- ``leader`` is the coordinator's latest word (instance and epoch), refreshed by ``poll``;
  an epoch grows with every new leadership.
- ``may_act`` is this process's own fencing clock: false as soon as the lease it holds
  may have expired (a process frozen and resumed sees it false before anything else), so
  a leader that lost its lease sends nothing more.
- The in-sync set changes only through the leader, while it still holds its lease.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class Leadership(ABC):
    leader: tuple[str, int] | None = None  # (instance, epoch)

    @abstractmethod
    def poll(self) -> bool:
        """Take in what the coordinator said since the last call; True if the leader
        changed."""

    @abstractmethod
    def campaign(self) -> int | None:
        """Try to lead: the new epoch, or None when another leads or this instance may
        not (outside the in-sync set, or diverged)."""

    @abstractmethod
    def may_act(self) -> bool:
        """Whether this process still holds its lease (always false when not leading)."""

    @abstractmethod
    def set_in_sync(self, instance: str, in_sync: bool) -> bool:
        """Add ``instance`` to the in-sync set or drop it, as the leader; False when it
        could not (the coordinator did not answer, or this process no longer leads)."""

    @abstractmethod
    def mark_diverged(self) -> None:
        """Note that this instance's state disagrees with its leader's: never elect it."""

    @abstractmethod
    def close(self) -> None: ...
