"""The public trades an engine keeps, to answer "the trades after sequence N".

Sans-I/O: the actor adds each public trade it makes (replay included) and asks for the
trades after a market sequence number; nothing here reads a clock or touches a socket.

Invariants:
- ``trades`` holds the market's newest public trades, at most ``limit``, in market
  sequence order; when it is full the oldest goes first.
- ``horizon`` is the market sequence number of the newest trade let go (0 while none
  has been): the trades after ``N`` are all held exactly when ``N >= horizon``.
- Only trades the engine applied change it, so it is state like the book: it is in the
  actor's snapshot and rebuilt by replay, and a standby that applies the same commands
  holds the same trades.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Iterable

from actors.engine.protocol import PublicTrade


def _seq_of(trade: PublicTrade) -> int:
    return trade.seq


class TradeHistory:
    def __init__(self, limit: int, trades: Iterable[PublicTrade] = (), horizon: int = 0) -> None:
        self.limit = limit
        self.horizon = horizon
        held = list(trades)
        if len(held) > limit:
            # A smaller limit than the snapshot's: the older ones go, as they would have.
            dropped = held[: len(held) - limit]
            held = held[len(held) - limit :]
            self.horizon = max(horizon, dropped[-1].seq)
        self.trades: deque[PublicTrade] = deque(held, maxlen=limit if limit > 0 else 0)

    def add(self, trade: PublicTrade) -> None:
        trades = self.trades
        if len(trades) == self.limit:
            if not trades:  # a limit of 0 keeps nothing: every trade is let go at once
                self.horizon = trade.seq
                return
            self.horizon = trades[0].seq
        trades.append(trade)

    def after(self, seq: int, limit: int) -> tuple[list[PublicTrade], bool]:
        """The held trades with a sequence number above ``seq``, oldest first, at most
        ``limit``; and whether they are all of the held ones after ``seq``."""
        trades = self.trades
        start = bisect.bisect_right(trades, seq, key=_seq_of)
        held = len(trades)
        end = min(held, start + limit)
        if start > held // 2:  # a deque walks from its nearer end
            picked = list(itertools.islice(reversed(trades), held - end, held - start))
            picked.reverse()
        else:
            picked = list(itertools.islice(trades, start, end))
        return picked, end == held

    def __len__(self) -> int:
        return len(self.trades)
