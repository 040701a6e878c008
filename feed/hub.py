"""Who is subscribed to what, and fan-out: one encoded message to every subscriber.

Invariants:
- A channel key names one stream: ``("depth", market)``, ``("trades", market)``,
  ``("ticker", market)``, ``("kline", market, interval)``, or ``(kind, user_id)`` for a
  user's private ``orders`` / ``fills`` / ``balances``.  ``("user", user_id)`` is held by
  every connection authenticated as that user and carries no messages.
- ``publish`` frames a message once and hands that same frame to every subscriber's
  bounded outbound queue;
  a subscriber whose queue is full is closed as a slow consumer and removed from every
  channel before ``publish`` returns, so it never holds memory for messages again.
- ``sent`` counts every message handed to a connection's queue (one per connection).
- ``on_first`` / ``on_last`` fire when a key gains its first or loses its last
  subscriber (the private upstream holds a user's topics only while a connection is
  authenticated as that user).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection

from actors.accounts.protocol import Auth
from feed.outbound import Flusher, Frame, Outbound

log = logging.getLogger("feed")

Key = tuple[str, ...]
USER_KEY = "user"

_session_ids = itertools.count(1)


class Session:
    """One WebSocket connection: its queue, its channels and, after auth, its user."""

    __slots__ = ("auth", "conn", "id", "key_id", "keys", "out", "user_id")

    def __init__(self, conn: ServerConnection, out: Outbound) -> None:
        self.id = next(_session_ids)
        self.conn = conn
        self.out = out
        self.keys: set[Key] = set()
        self.user_id: int | None = None
        self.key_id = 0  # the API key the session authenticated with
        self.auth: Auth | None = None  # how, to check the key again

    def __hash__(self) -> int:
        return self.id

    def __eq__(self, other: object) -> bool:
        return self is other


class Hub:
    def __init__(
        self,
        on_first: Callable[[Key], None] | None = None,
        on_last: Callable[[Key], None] | None = None,
    ) -> None:
        self.sessions: set[Session] = set()
        self.flusher = Flusher()
        self._subs: dict[Key, set[Session]] = {}
        self._on_first = on_first
        self._on_last = on_last
        self.slow_closed = 0
        self.sent = 0  # messages handed to connections

    def join(self, session: Session) -> None:
        self.sessions.add(session)

    def leave(self, session: Session) -> None:
        self.sessions.discard(session)
        for key in list(session.keys):
            self.unsubscribe(session, key)

    def subscribe(self, session: Session, key: Key) -> None:
        subs = self._subs.get(key)
        if subs is None:
            subs = self._subs[key] = set()
            if self._on_first is not None:
                self._on_first(key)
        subs.add(session)
        session.keys.add(key)

    def unsubscribe(self, session: Session, key: Key) -> None:
        session.keys.discard(key)
        subs = self._subs.get(key)
        if subs is None:
            return
        subs.discard(session)
        if not subs:
            del self._subs[key]
            if self._on_last is not None:
                self._on_last(key)

    def has_subscribers(self, key: Key) -> bool:
        return key in self._subs

    def send(self, session: Session, data: bytes | Frame) -> None:
        """One message to one session (acks, snapshots), with the same slow-consumer rule."""
        if session.out.push(data if isinstance(data, Frame) else Frame(data)):
            self.sent += 1
        else:
            self.drop_slow(session)

    def publish(self, key: Key, data: bytes | Frame) -> int:
        """``data`` to every subscriber of ``key``; the number it was handed to."""
        subs = self._subs.get(key)
        if not subs:
            return 0
        frame = data if isinstance(data, Frame) else Frame(data)
        slow: list[Session] | None = None
        count = 0
        for session in subs:
            if session.out.push(frame):
                count += 1
            else:
                if slow is None:
                    slow = []
                slow.append(session)
        if slow is not None:
            for session in slow:
                self.drop_slow(session)
        self.sent += count
        return count

    def publish_once(self, keys: list[Key], data: Frame) -> int:
        """``data`` once to every session subscribed to any of ``keys``."""
        sessions: set[Session] = set()
        for key in keys:
            subs = self._subs.get(key)
            if subs:
                sessions.update(subs)
        slow = [session for session in sessions if not session.out.push(data)]
        for session in slow:
            self.drop_slow(session)
        self.sent += len(sessions) - len(slow)
        return len(sessions) - len(slow)

    def drop_slow(self, session: Session) -> None:
        self.slow_closed += 1
        log.warning(
            "slow consumer closed",
            extra={"fields": {"session": session.id, "queued": session.out.queued}},
        )
        session.out.close_slow()
        self.leave(session)

    @property
    def open_sessions(self) -> int:
        return len(self.sessions)
