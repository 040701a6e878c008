"""A coordinator lease kept alive by a thread of its own, and the fencing deadline it gives.

Invariants:
- The fencing deadline is local: ``sent + ttl - margin``, where ``sent`` is when the last
  keepalive that etcd answered was *sent* and ``ttl`` the TTL that answer carries.  etcd
  renews on receipt, which is after the send, so the deadline passes before etcd can
  expire the lease (and before anyone else can win what it held) for any clock that runs
  no slower than etcd's by more than the margin.
- The deadline is read on :func:`fence_clock` (``CLOCK_BOOTTIME``: monotonic, and it keeps
  counting while the process is stopped or the machine suspended), so a process frozen by
  SIGSTOP sees its deadline passed the moment it runs again, before any network call.
- The deadline only moves forward, and never after the lease is lost.
- Loss is final and reported once (``on_lost``, from the keepalive thread, and the
  :attr:`Lease.lost` event): when etcd answers a keepalive with TTL 0, or when the
  deadline passes without a successful keepalive.  A new leadership takes a new lease.
  :meth:`Lease.close` ends the lease too (``lost`` is set, no callback).
- Keepalives go every TTL/3, and again at once when one fails, until the deadline.  A
  lease lost to its deadline is revoked as well (best effort), so that the next leader
  need not wait for etcd to expire it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from transport.etcd import EtcdClient, EtcdError

log = logging.getLogger(__name__)

# After a failed keepalive, the next one goes this much later (the deadline still rules).
RETRY_S = 0.05

_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


def fence_clock() -> float:
    """Seconds on the clock fencing deadlines are read on (see the module's invariants)."""
    return time.clock_gettime(_CLOCK)


class Lease:
    """A granted lease; keep it alive with :meth:`start`, end it with :meth:`close`."""

    def __init__(
        self,
        etcd: EtcdClient,
        ttl_s: int,
        margin_s: float,
        on_lost: Callable[[Lease], None] | None = None,
    ) -> None:
        """Grant a lease of ``ttl_s`` (etcd may raise it to its minimum: see :attr:`ttl_s`).
        ``etcd`` then belongs to the lease, which keeps it alive with it and closes it."""
        self._etcd = etcd
        self._margin = margin_s
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.lost = threading.Event()
        sent = fence_clock()
        try:
            granted = etcd.lease_grant(ttl_s)
        except BaseException:
            etcd.close()
            raise
        self.id = granted.ID
        self.ttl_s = granted.TTL
        if self.ttl_s != ttl_s:
            log.warning(
                "etcd raised the lease TTL",
                extra={"fields": {"asked_s": ttl_s, "granted_s": self.ttl_s}},
            )
        self._deadline = sent + self.ttl_s - margin_s
        self._last_sent = sent
        self._thread = threading.Thread(target=self._keep_alive, name="lease", daemon=True)

    def start(self) -> Lease:
        self._thread.start()
        return self

    @property
    def deadline(self) -> float:
        """Until when (on :func:`fence_clock`) this process may act on what the lease holds."""
        with self._lock:
            return self._deadline

    def remaining(self) -> float:
        """Seconds left before the deadline; zero or less once it passed or the lease is lost."""
        return self.deadline - fence_clock()

    def valid(self) -> bool:
        return self.remaining() > 0

    def close(self, revoke: bool = True) -> None:
        """Stop the keepalives.  With ``revoke``, etcd drops the lease (and every key it
        holds) now; without, they last until the TTL runs out.  Either way this process
        stops acting on it at once."""
        self._stop.set()
        self._end()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        try:
            if revoke:
                self._etcd.lease_revoke(self.id)
        except EtcdError as error:
            log.warning("lease not revoked", extra={"fields": {"error": str(error)}})
        finally:
            self._etcd.close()

    def _keep_alive(self) -> None:
        interval = self.ttl_s / 3
        next_send = self._last_sent + interval
        while not self._stop.wait(max(0.0, next_send - fence_clock())):
            now = fence_clock()
            if now >= self.deadline:
                # Not valid any more (the deadline says so to every reader), but etcd may
                # still hold it: free what it holds for the next leader now, then report.
                with contextlib.suppress(EtcdError):
                    self._etcd.lease_revoke(self.id)
                self._lose("no keepalive succeeded before the fencing deadline")
                return
            try:
                ttl = self._etcd.lease_keepalive(self.id)
            except EtcdError as error:
                log.warning("lease keepalive failed", extra={"fields": {"error": str(error)}})
                next_send = fence_clock() + RETRY_S
                continue
            if ttl <= 0:
                self._lose("etcd no longer has the lease")
                return
            with self._lock:
                if not self._stop.is_set():
                    self._deadline = max(self._deadline, now + ttl - self._margin)
            next_send = now + ttl / 3

    def _lose(self, why: str) -> None:
        if self._stop.is_set():
            return
        self._end()
        log.warning("lease lost", extra={"fields": {"lease": self.id, "why": why}})
        if self._on_lost is not None:
            try:
                self._on_lost(self)
            except Exception:
                log.exception("the lease-lost callback failed")

    def _end(self) -> None:
        with self._lock:
            self._deadline = float("-inf")
        self.lost.set()
