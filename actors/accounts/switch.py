"""The dead man's switch: a user arms it with a timeout; if the time runs out with no new
call, every open order of theirs is cancelled, in every market.

Invariants:
- A user's switch is ``User.cancel_at`` (0: disarmed), durable with the user; the
  shard's ``switches`` index holds ``(cancel_at, user_id)`` of every armed one and
  nothing else.
- Time is the shard's stamped time only: arming sets ``cancel_at = now + timeout_ms``
  of the request's turn, and a switch fires in :meth:`Switches.fire` at the first tick
  whose ``now`` reaches it, soonest first, then by user id.  The actor journals every
  tick that fires one, so a replay fires the same switches at the same times.
- Firing disarms the switch and sends a cancel-all to the engine of every market where
  the user has open orders (untriggered conditional orders and list legs included);
  it answers no one.  An order placed after the firing is not touched.
"""

from __future__ import annotations

from actors.accounts.orders import Orders
from actors.accounts.protocol import AccountsReply, CancelAfter, ErrorReply, SwitchReply
from actors.accounts.shard import LedgerOutput, ShardState
from actors.accounts.state import User

MIN_TIMEOUT_MS = 1_000
MAX_TIMEOUT_MS = 3_600_000


class Switches:
    def __init__(self, state: ShardState, orders: Orders) -> None:
        self.state = state
        self.orders = orders

    def arm(self, now: int, user: User, request: CancelAfter) -> AccountsReply:
        timeout = request.timeout_ms
        if timeout != 0 and not MIN_TIMEOUT_MS <= timeout <= MAX_TIMEOUT_MS:
            return ErrorReply(
                400,
                "INVALID_FIELD",
                f"timeout_ms must be 0 (off) or {MIN_TIMEOUT_MS:,} to {MAX_TIMEOUT_MS:,}",
                "timeout_ms",
            )
        self._disarm(user)
        if timeout == 0:
            return SwitchReply(now, None)
        user.cancel_at = now + timeout
        self.state.switches.add(user.cancel_at, user.user_id)
        return SwitchReply(now, user.cancel_at)

    def next_due(self) -> int | None:
        """When the next switch fires, or None."""
        first = self.state.switches.first()
        return None if first is None else first[0]

    def fire(self, now: int, out: LedgerOutput) -> None:
        """Fire every switch due at ``now``."""
        state = self.state
        while (first := state.switches.first()) is not None and first[0] <= now:
            user = state.users[first[1]]
            self._disarm(user)
            self.orders.cancel_everything(user, out)

    def _disarm(self, user: User) -> None:
        if user.cancel_at:
            self.state.switches.remove(user.cancel_at, user.user_id)
            user.cancel_at = 0
