"""Who leads each group, as the coordinator's keys say, and a watch that follows it.

Keys (``<prefix>`` from ``[coordinator] prefix``; groups and instances are names of
letters, digits, '.', '_' and '-', so a key splits back unambiguously):

- ``<prefix>/leader/<group>``: JSON ``{"instance": ..., "payload": {...}}``, held by the
  leader's lease.  Its create revision is the leadership's **epoch**: etcd's revisions
  only grow, so every new leadership has a greater epoch than all before it.
- ``<prefix>/isr/<group>/<instance>``: the group's in-sync set, one key a member.
- ``<prefix>/diverged/<group>/<instance>``: an instance whose state disagreed with its
  leader's; it cannot be elected while the key exists.

Invariants of :class:`LeaderWatch`:
- :meth:`LeaderWatch.start` reads every leader at one revision, and the watch follows
  from the next revision: no change is missed or seen twice.
- Changes are delivered in revision order, from one thread, one call at a time, and
  none after :meth:`LeaderWatch.close` returns.
- A broken or silent stream (etcd restarted, connection cut) is reopened from the
  revision after the last one delivered, with a back-off of up to a second.  When etcd
  compacted that revision away, every leader is read again and each group whose leader
  differs from the last delivered gets one change: the watcher ends up where etcd is.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import msgspec

from transport.etcd import EtcdClient, EtcdError, KeyValue, WatchStream, prefix_end

log = logging.getLogger(__name__)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_PAYLOAD_ENTRIES = 32
MAX_PAYLOAD_TEXT = 512
# A watch that hears nothing for this long is reopened (a cut connection may never say so).
WATCH_IDLE_S = 10.0
WATCH_BACKOFF_S = (0.05, 1.0)


def check_name(field: str, name: str) -> None:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(
            f"`{field}` {name!r} must be 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def check_payload(payload: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(payload, Mapping) or len(payload) > MAX_PAYLOAD_ENTRIES:
        raise ValueError(f"`payload` must be a mapping of at most {MAX_PAYLOAD_ENTRIES} entries")
    for key, value in payload.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError("`payload` must map text to text")
        if len(key) > MAX_PAYLOAD_TEXT or len(value) > MAX_PAYLOAD_TEXT:
            raise ValueError(f"`payload` entries must be at most {MAX_PAYLOAD_TEXT} characters")
    return dict(payload)


class Keys:
    """The key layout under one prefix (see the module's docstring)."""

    def __init__(self, prefix: str) -> None:
        self.root = prefix.rstrip("/").encode()
        self.leaders = self.root + b"/leader/"

    def leader(self, group: str) -> bytes:
        return self.leaders + group.encode()

    def isr(self, group: str) -> bytes:
        return self.root + b"/isr/" + group.encode() + b"/"

    def member(self, group: str, instance: str) -> bytes:
        return self.isr(group) + instance.encode()

    def diverged(self, group: str) -> bytes:
        return self.root + b"/diverged/" + group.encode() + b"/"

    def marker(self, group: str, instance: str) -> bytes:
        return self.diverged(group) + instance.encode()

    @staticmethod
    def last_name(key: bytes, under: bytes) -> str | None:
        """The name after ``under`` in ``key``, if it is one of our names."""
        if not key.startswith(under):
            return None
        try:
            name = key[len(under) :].decode()
        except UnicodeDecodeError:
            return None
        return name if NAME.fullmatch(name) else None


class LeaderValue(msgspec.Struct, frozen=True):
    instance: str
    payload: dict[str, str] = {}


_VALUE_ENCODER = msgspec.json.Encoder()
_VALUE_DECODER = msgspec.json.Decoder(LeaderValue)


def encode_leader(instance: str, payload: dict[str, str]) -> bytes:
    return _VALUE_ENCODER.encode(LeaderValue(instance, payload))


@dataclass(frozen=True, slots=True)
class Leader:
    group: str
    instance: str
    payload: dict[str, str]
    epoch: int  # the leader key's create revision
    lease: int


@dataclass(frozen=True, slots=True)
class LeaderChange:
    group: str
    leader: Leader | None  # None: nobody leads the group now
    revision: int  # etcd's revision of the change

    @property
    def epoch(self) -> int | None:
        return self.leader.epoch if self.leader is not None else None


def leader_of(group: str, kv: KeyValue) -> Leader | None:
    """The leader a leader key names; None (logged) if its value is not one we wrote."""
    try:
        value = _VALUE_DECODER.decode(kv.value)
        check_name("instance", value.instance)
        payload = check_payload(value.payload)
    except (msgspec.DecodeError, ValueError) as error:
        log.error(
            "unreadable leader key",
            extra={"fields": {"group": group, "error": str(error)}},
        )
        return None
    return Leader(group, value.instance, payload, kv.create_revision, kv.lease)


def read_leaders(etcd: EtcdClient, keys: Keys) -> tuple[dict[str, Leader], int]:
    """Every group's leader, and the revision they were read at."""
    answer = etcd.range(keys.leaders, prefix_end(keys.leaders))
    leaders: dict[str, Leader] = {}
    for kv in answer.kvs:
        group = Keys.last_name(kv.key, keys.leaders)
        leader = leader_of(group, kv) if group is not None else None
        if group is not None and leader is not None:
            leaders[group] = leader
    return leaders, answer.header.revision


class LeaderWatch:
    """Every leader at start, then each change, to ``on_change`` from a thread of its own.

    From asyncio, hand changes to the loop:
    ``on_change=lambda change: loop.call_soon_threadsafe(queue.put_nowait, change)``.
    """

    def __init__(
        self, etcd: EtcdClient, keys: Keys, on_change: Callable[[LeaderChange], None]
    ) -> None:
        """``etcd`` belongs to the watch from then on (it streams on it, and closes it)."""
        self._etcd = etcd
        self._keys = keys
        self._on_change = on_change
        self._known: dict[str, Leader] = {}
        self.initial: dict[str, Leader] = {}
        self._revision = 0
        self._stop = threading.Event()
        self._delivering = threading.RLock()
        self._streaming: WatchStream | None = None
        self._streamed = False  # a stream opened since the last failure
        self._thread = threading.Thread(target=self._follow, name="leader-watch", daemon=True)

    def start(self) -> dict[str, Leader]:
        """Read every leader (raises :class:`EtcdError` if etcd does not answer), start
        following from the next revision, and return what was read."""
        try:
            self._known, self._revision = read_leaders(self._etcd, self._keys)
        except BaseException:
            self._etcd.close()
            raise
        self.initial = dict(self._known)
        self._thread.start()
        return dict(self.initial)

    @property
    def revision(self) -> int:
        """The last revision delivered (or read at start)."""
        return self._revision

    def close(self) -> None:
        """Stop following (at once: the stream is ended, not waited out)."""
        with self._delivering:
            self._stop.set()
            streaming = self._streaming
        if streaming is not None:
            streaming.shutdown()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _follow(self) -> None:
        delay = WATCH_BACKOFF_S[0]
        try:
            while not self._stop.is_set():
                try:
                    self._stream()
                except Exception as error:
                    if self._stop.is_set():
                        return
                    if self._streamed:  # it broke after working: try again soon
                        self._streamed, delay = False, WATCH_BACKOFF_S[0]
                    log.log(
                        logging.INFO if isinstance(error, EtcdError) else logging.ERROR,
                        "leader watch reconnecting",
                        extra={"fields": {"after": self._revision, "error": repr(error)}},
                    )
                    self._stop.wait(delay)
                    delay = min(delay * 2, WATCH_BACKOFF_S[1])
        finally:
            self._etcd.close()

    def _stream(self) -> None:
        start = self._revision + 1
        lo, hi = self._keys.leaders, prefix_end(self._keys.leaders)
        with contextlib.closing(self._etcd.watch(lo, hi, start, WATCH_IDLE_S)) as stream:
            with self._delivering:
                self._streaming = stream
            self._streamed = True
            if not self._stop.is_set():
                self._apply(stream)

    def _apply(self, stream: WatchStream) -> None:
        for response in stream:
            if self._stop.is_set():
                return
            if response.compact_revision:
                log.warning(
                    "leader watch compacted past its revision: reading every leader again",
                    extra={
                        "fields": {"after": self._revision, "compacted": response.compact_revision}
                    },
                )
                self._resync()
                return
            if response.canceled:
                raise EtcdError(f"etcd cancelled the watch: {response.cancel_reason}")
            for event in response.events:
                group = Keys.last_name(event.kv.key, self._keys.leaders)
                if group is None:
                    continue
                leader = leader_of(group, event.kv) if event.type == "PUT" else None
                self._deliver(LeaderChange(group, leader, event.kv.mod_revision))
            if response.events:
                self._revision = max(self._revision, response.events[-1].kv.mod_revision)

    def _resync(self) -> None:
        leaders, revision = read_leaders(self._etcd, self._keys)
        for group in sorted(self._known.keys() | leaders.keys()):
            if self._known.get(group) != leaders.get(group):
                self._deliver(LeaderChange(group, leaders.get(group), revision))
        self._revision = revision

    def _deliver(self, change: LeaderChange) -> None:
        with self._delivering:
            if self._stop.is_set():
                return
            if change.leader is None:
                self._known.pop(change.group, None)
            else:
                self._known[change.group] = change.leader
            try:
                self._on_change(change)
            except Exception:
                log.exception("a leader change handler failed")
