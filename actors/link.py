"""A numbered link between two actors, both ends in one object, without I/O or clock.

Each direction numbers its messages 1, 2, 3, ... for the life of the link.  The sending
end keeps every message it sent until the other end says it applied it (``ack``) and
sends again, when asked (``due``), those that have waited a whole period; the receiving
end applies each number once and in order (``accept``).  So a message lost, duplicated
or overtaken on the way is repaired once the channel delivers again, and a restart
loses nothing that the snapshot and the journal hold.  What the messages are and how
they travel is the caller's: an engine and a shard number requests one way and reports
the other, and ack by the numbers those carry back.

Invariants:
- ``sent`` is the number of the newest message sent.  The retained messages are exactly
  those numbered ``sent - unacked + 1 .. sent``, in order: an ack forgets a prefix.
- ``received`` grows only through ``accept``, and only by one: a number at or below it
  is a repeat, one above ``received + 1`` a gap; neither changes anything.
- ``due`` returns the retained messages that were already retained at its previous call
  (a younger one is most likely still on its way, and sending it again would make a
  busy receiver decode it twice).  What the previous call saw is not state: after a
  restart the first call only notes it, and neither snapshots nor state hashes depend
  on when the calls happened.
- :class:`LinkState` is all a snapshot holds: both numbers and the retained messages.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Generic, Literal, TypeVar

import msgspec

M = TypeVar("M")

Verdict = Literal["accept", "repeat", "gap"]


class LinkState(msgspec.Struct, Generic[M], frozen=True, array_like=True):
    sent: int = 0
    received: int = 0
    retained: list[M] = msgspec.field(default_factory=list)


class Link(Generic[M]):
    __slots__ = ("_mark", "_retained", "received", "sent")

    def __init__(self, state: LinkState[M] | None = None) -> None:
        self.sent = 0
        self.received = 0
        self._retained: deque[M] = deque()
        self._mark = 0  # ``sent`` at the previous ``due``
        if state is not None:
            if not 0 <= len(state.retained) <= state.sent or state.received < 0:
                raise ValueError(f"an impossible link state: {state!r}")
            self.sent = state.sent
            self.received = state.received
            self._retained.extend(state.retained)

    # --- the sending end ---------------------------------------------------------------

    def send(self, numbered: Callable[[int], M]) -> M:
        """Number a message (``numbered`` builds it with the number given) and keep it
        until it is acked."""
        seq = self.sent + 1
        message = numbered(seq)
        self.sent = seq
        self._retained.append(message)
        return message

    def ack(self, upto: int) -> int:
        """Forget the messages numbered up to ``upto``, which the other end applied;
        how many were forgotten."""
        retained = self._retained
        count = upto - self.sent + len(retained)
        if count <= 0:
            return 0
        if count >= len(retained):
            count = len(retained)
            retained.clear()
            return count
        for _ in range(count):
            retained.popleft()
        return count

    def due(self) -> list[M]:
        """What to send again now: the messages not acked since the previous call."""
        overdue = self._mark - (self.sent - len(self._retained))
        self._mark = self.sent
        return list(islice(self._retained, overdue)) if overdue > 0 else []

    @property
    def unacked(self) -> int:
        return len(self._retained)

    def retained(self) -> list[M]:
        """Every message not acked yet, oldest first (to send all again when the other
        end may have lost them, e.g. it just came back)."""
        return list(self._retained)

    # --- the receiving end -------------------------------------------------------------

    def accept(self, seq: int) -> Verdict:
        """Whether to apply an incoming message numbered ``seq``: ``accept`` (the next
        one, now counted as received), ``repeat`` or ``gap`` (ignore it)."""
        expected = self.received + 1
        if seq == expected:
            self.received = seq
            return "accept"
        return "repeat" if seq < expected else "gap"

    # --- snapshots ---------------------------------------------------------------------

    def state(self) -> LinkState[M]:
        return LinkState(self.sent, self.received, list(self._retained))
