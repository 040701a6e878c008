"""The coordinator (etcd): leadership of each group with its epoch, the in-sync set, the
diverged markers, and a watch of who leads.  Keys are laid out in ``transport/leaders.py``.

Invariants:
- A process leads a group only through :meth:`Coordinator.campaign`, and only while the
  lease it campaigned with is within its fencing deadline (``transport/lease.py``):
  :meth:`Coordinator.leading` checks that locally, with no network call, so a process
  frozen and resumed sees at once that it no longer leads.
- A campaign wins only by an etcd transaction that creates the leader key with the lease
  when (1) the key does not exist, (2) the instance is in the group's in-sync set and
  (3) it is not marked diverged.  The epoch is the created key's revision: it grows with
  every new leadership.
- Seeding: the in-sync set of a group that never had one is empty (nothing here ever
  empties it: a leader cannot remove itself).  A campaign with ``primary=True`` (the
  config's primary for the group) may then win with one transaction that adds the
  instance to the set and creates the leader key, on the same three conditions except
  that the whole set must be empty.  So the first leader of a group starts on its own,
  and once a set exists only its members can ever lead.
- The in-sync set is changed only by the group's current leader, in a transaction guarded
  by its epoch (the leader key still has that create revision, hence its lease is still
  alive in etcd) and only while its local deadline has not passed.  When
  :meth:`Coordinator.isr_remove` returns, the member is out of the set: the leader may
  then go on without it.
- A campaign whose answer was lost and is retried finds the key held by its own lease and
  wins with that key's epoch: campaigns may be retried.
- Every call is blocking and bounded (``request_timeout_ms`` per endpoint tried) and
  raises :class:`CoordinatorUnavailable` when etcd does not answer, never hangs.  Threads
  may share one :class:`Coordinator`.  From asyncio, call it in a thread
  (``await asyncio.to_thread(coordinator.campaign, ...)``) and hand watched changes to the
  loop with ``loop.call_soon_threadsafe`` (see :class:`LeaderWatch`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bourse.coordination import CoordinatorSettings
from transport.etcd import (
    EtcdClient,
    EtcdError,
    EtcdUnavailable,
    KeyValue,
    RequestOp,
    TxnResponse,
    absent,
    created_at,
    delete_op,
    exists,
    prefix_end,
    put_op,
    range_op,
)
from transport.leaders import (
    Keys,
    Leader,
    LeaderChange,
    LeaderWatch,
    check_name,
    check_payload,
    encode_leader,
    leader_of,
    read_leaders,
)
from transport.lease import Lease

__all__ = [
    "Coordinator",
    "CoordinatorError",
    "CoordinatorUnavailable",
    "Leader",
    "LeaderChange",
    "LeaderWatch",
    "Lease",
    "NotLeading",
]

log = logging.getLogger(__name__)

CoordinatorError = EtcdError
CoordinatorUnavailable = EtcdUnavailable
MAX_DETAIL = 1024


class NotLeading(EtcdError):
    """This process does not (or no longer) lead the group."""


@dataclass(frozen=True, slots=True)
class _Held:
    instance: str
    epoch: int
    lease: Lease


class Coordinator:
    def __init__(
        self,
        settings: CoordinatorSettings,
        on_lost: Callable[[Mapping[str, int]], None] | None = None,
    ) -> None:
        """No network call yet.  ``on_lost`` is told, from the lease's thread (or the
        thread that replaces a lapsed lease), the groups and epochs this process stopped
        leading because their lease was lost."""
        self._settings = settings
        self._keys = Keys(settings.prefix)
        self._on_lost = on_lost
        self._etcd = self._client()
        self._lock = threading.Lock()
        self._granting = threading.Lock()
        self._lease: Lease | None = None
        self._leading: dict[str, _Held] = {}
        self._watches: list[LeaderWatch] = []

    def _client(self) -> EtcdClient:
        return EtcdClient(self._settings.endpoints, self._settings.request_timeout_ms / 1000)

    def close(self, revoke: bool = True) -> None:
        """Stop leading and watching.  With ``revoke`` the leader keys go at once, else
        when the TTL ends."""
        with self._lock:
            lease, self._lease = self._lease, None
            self._leading.clear()
            watches, self._watches = self._watches, []
        for watch in watches:
            watch.close()
        if lease is not None:
            lease.close(revoke)
        self._etcd.close()

    # -- the lease -----------------------------------------------------------------------

    @property
    def lease(self) -> Lease | None:
        """The lease campaigns use (its deadline, what remains), once one was granted."""
        with self._lock:
            return self._lease

    def _current_lease(self) -> Lease:
        with self._granting:
            with self._lock:
                lapsed = self._lease
            if lapsed is not None and lapsed.valid():
                return lapsed
            fresh = Lease(
                self._client(),
                self._settings.lease_ttl_ms // 1000,
                self._settings.fence_margin_ms / 1000,
                self._lost,
            ).start()
            with self._lock:
                self._lease = fresh
        if lapsed is not None:
            # Lost, even if its thread has not said so yet (outside the lock: the
            # callback may campaign again).
            self._lost(lapsed)
            lapsed.close(revoke=True)
        return fresh

    def _lost(self, lease: Lease) -> None:
        with self._lock:
            lost = {g: held.epoch for g, held in self._leading.items() if held.lease is lease}
            for group in lost:
                del self._leading[group]
        if lost and self._on_lost is not None:
            self._on_lost(lost)

    # -- leadership ----------------------------------------------------------------------

    def campaign(
        self, group: str, instance: str, payload: Mapping[str, str], *, primary: bool = False
    ) -> int | None:
        """Try to lead ``group`` as ``instance`` (``payload``: its endpoints, by name).
        The epoch when it won, None when it may not lead now (someone leads, it is not in
        the in-sync set, or it is marked diverged).  ``primary``: the config's primary,
        which may seed a group that never had an in-sync set."""
        check_name("group", group)
        check_name("instance", instance)
        value = encode_leader(instance, check_payload(payload))
        lease = self._current_lease()
        leader, member, marker = (
            self._keys.leader(group),
            self._keys.member(group, instance),
            self._keys.marker(group, instance),
        )
        isr = self._keys.isr(group)
        answer = self._etcd.txn(
            [absent(leader), exists(member), absent(marker)],
            [put_op(leader, value, lease.id)],
            [range_op(leader), range_op(isr, prefix_end(isr), count_only=True), range_op(marker)],
        )
        epoch: int | None = None
        if answer.succeeded:
            epoch = answer.header.revision
        else:
            holder = _first(answer, 0)
            isr_size = _count(answer, 1)
            diverged = _first(answer, 2) is not None
            if holder is not None:
                if holder.lease == lease.id and _instance_of(group, holder) == instance:
                    epoch = holder.create_revision  # our own win, whose answer was lost
            elif primary and isr_size == 0 and not diverged:
                seeded = self._etcd.txn(
                    [absent(leader), absent(isr, prefix_end(isr)), absent(marker)],
                    [put_op(member, b""), put_op(leader, value, lease.id)],
                    [],
                )
                if seeded.succeeded:
                    epoch = seeded.header.revision
                    log.info("seeded the in-sync set", extra={"fields": {"group": group}})
        if epoch is None:
            return None
        with self._lock:
            if lease is not self._lease or not lease.valid():
                return None
            self._leading[group] = _Held(instance, epoch, lease)
        log.info(
            "leading", extra={"fields": {"group": group, "instance": instance, "epoch": epoch}}
        )
        return epoch

    def leading(self, group: str) -> int | None:
        """The epoch this process leads ``group`` with, if it still may (no network call)."""
        with self._lock:
            held = self._leading.get(group)
        return held.epoch if held is not None and held.lease.valid() else None

    def resign(self, group: str) -> None:
        """Stop leading ``group`` and free its leader key for another at once."""
        with self._lock:
            held = self._leading.pop(group, None)
        if held is not None:
            leader = self._keys.leader(group)
            self._etcd.txn([created_at(leader, held.epoch)], [delete_op(leader)], [])

    def leader(self, group: str) -> Leader | None:
        check_name("group", group)
        answer = self._etcd.range(self._keys.leader(group))
        return leader_of(group, answer.kvs[0]) if answer.kvs else None

    def leaders(self) -> tuple[dict[str, Leader], int]:
        """Every group's leader, and the revision they were read at."""
        return read_leaders(self._etcd, self._keys)

    def watch_leaders(self, on_change: Callable[[LeaderChange], None]) -> LeaderWatch:
        """A started :class:`LeaderWatch`: every leader at start is in its ``initial``,
        and ``on_change`` gets each change after it."""
        watch = LeaderWatch(self._client(), self._keys, on_change)
        watch.start()
        with self._lock:
            self._watches.append(watch)
        return watch

    # -- the in-sync set -----------------------------------------------------------------

    def isr_members(self, group: str) -> frozenset[str]:
        check_name("group", group)
        isr = self._keys.isr(group)
        return self._names(isr)

    def isr_add(self, group: str, instance: str) -> None:
        """Add ``instance`` to the set of the group this process leads (else NotLeading)."""
        check_name("instance", instance)
        self._as_leader(group, put_op(self._keys.member(group, instance), b""))

    def isr_remove(self, group: str, instance: str) -> None:
        """Take ``instance`` out of the set of the group this process leads: once this
        returns, ``instance`` can no longer be elected (else NotLeading)."""
        check_name("instance", instance)
        with self._lock:
            held = self._leading.get(group)
        if held is not None and held.instance == instance:
            raise ValueError(f"`instance` {instance!r} leads {group!r}: a leader stays in its set")
        self._as_leader(group, delete_op(self._keys.member(group, instance)))

    def _as_leader(self, group: str, operation: RequestOp) -> None:
        check_name("group", group)
        epoch = self.leading(group)
        if epoch is None:
            raise NotLeading(f"this process does not lead {group!r}")
        leader = self._keys.leader(group)
        answer = self._etcd.txn([created_at(leader, epoch)], [operation], [])
        if not answer.succeeded:
            with self._lock:
                held = self._leading.get(group)
                if held is not None and held.epoch == epoch:
                    del self._leading[group]
            raise NotLeading(f"the leadership of {group!r} at epoch {epoch} is over")

    # -- diverged instances --------------------------------------------------------------

    def mark_diverged(self, group: str, instance: str, detail: str = "") -> None:
        """``instance`` can never lead ``group`` again until :meth:`clear_diverged`."""
        check_name("group", group)
        check_name("instance", instance)
        self._etcd.put(self._keys.marker(group, instance), detail.encode()[:MAX_DETAIL])

    def clear_diverged(self, group: str, instance: str) -> None:
        check_name("group", group)
        check_name("instance", instance)
        self._etcd.delete(self._keys.marker(group, instance))

    def diverged(self, group: str) -> frozenset[str]:
        check_name("group", group)
        return self._names(self._keys.diverged(group))

    def _names(self, under: bytes) -> frozenset[str]:
        answer = self._etcd.range(under, prefix_end(under))
        names = (Keys.last_name(kv.key, under) for kv in answer.kvs)
        return frozenset(name for name in names if name is not None)


def _first(answer: TxnResponse, index: int) -> KeyValue | None:
    found = answer.responses[index].response_range if index < len(answer.responses) else None
    return found.kvs[0] if found is not None and found.kvs else None


def _count(answer: TxnResponse, index: int) -> int:
    found = answer.responses[index].response_range if index < len(answer.responses) else None
    return found.count if found is not None else 0


def _instance_of(group: str, kv: KeyValue) -> str | None:
    leader = leader_of(group, kv)
    return leader.instance if leader is not None else None
