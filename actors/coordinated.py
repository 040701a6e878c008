"""A pair's leadership through the coordinator (etcd): :class:`actors.leadership.Leadership`
over :class:`transport.coordinator.Coordinator`.

Invariants:
- The watch of leaders runs in its own thread and only queues what it sees; ``poll``, in
  the actor's thread, takes the queue in, so the actor's view changes between turns.
- Every call that can fail because etcd does not answer returns "no" (no epoch, not
  changed) within the coordinator's request timeout; it never raises into the actor.
"""

from __future__ import annotations

import logging
import queue

from actors.leadership import Leadership
from bourse.config import Config, ConfigError
from transport.coordinator import Coordinator, CoordinatorError, LeaderChange

log = logging.getLogger("leadership")


class CoordinatedLeadership(Leadership):
    def __init__(self, coordinator: Coordinator, group: str, instance: str, primary: bool) -> None:
        self._coordinator = coordinator
        self._group = group
        self._instance = instance
        self._primary = primary
        self._changes: queue.SimpleQueue[LeaderChange] = queue.SimpleQueue()
        self._watch = coordinator.watch_leaders(self._changes.put)
        current = self._watch.initial.get(group)
        self.leader = None if current is None else (current.instance, current.epoch)

    def poll(self) -> bool:
        changed = False
        while True:
            try:
                change = self._changes.get_nowait()
            except queue.Empty:
                return changed
            if change.group != self._group:
                continue
            leader = change.leader
            now = None if leader is None else (leader.instance, leader.epoch)
            if now != self.leader:
                self.leader = now
                changed = True

    def campaign(self) -> int | None:
        try:
            epoch = self._coordinator.campaign(
                self._group, self._instance, {}, primary=self._primary
            )
        except CoordinatorError as error:
            log.warning("campaign failed", extra={"fields": {"error": str(error)}})
            return None
        if epoch is not None:
            self.leader = (self._instance, epoch)
        return epoch

    def may_act(self) -> bool:
        return self._coordinator.leading(self._group) is not None

    def set_in_sync(self, instance: str, in_sync: bool) -> bool:
        try:
            if in_sync:
                self._coordinator.isr_add(self._group, instance)
            else:
                self._coordinator.isr_remove(self._group, instance)
        except CoordinatorError as error:
            log.warning("in-sync set unchanged", extra={"fields": {"error": str(error)}})
            return False
        return True

    def mark_diverged(self) -> None:
        try:
            self._coordinator.mark_diverged(self._group, self._instance, "state hash differs")
        except CoordinatorError as error:
            log.error("could not mark diverged", extra={"fields": {"error": str(error)}})

    def close(self) -> None:
        self._watch.close()
        self._coordinator.close(revoke=True)


def leadership_for(config: Config, group: str, instance: str) -> Leadership:
    """The leadership of ``instance`` in ``group`` (an engine or a shard with a standby)."""
    settings = config.coordinator
    if settings is None:
        raise ConfigError(f"{group} has a standby: the config needs a [coordinator] section")
    coordinator = Coordinator(settings)
    return CoordinatedLeadership(coordinator, group, instance, primary=instance == group)
