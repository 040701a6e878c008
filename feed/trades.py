"""Every public trade of one market, taken once and in order, whatever the feed missed.

Sans-I/O: the caller feeds in the engine's stream (events and heartbeats) and its
answers to "the trades after sequence N" (``TradesSince``), and acts on the returned
:class:`TradeStep`; nothing here touches a socket or a clock.

Invariants:
- ``through``: every public trade with a market sequence number up to ``through`` has
  been taken (handed out in a step), once, in sequence order.  The caller stores it with
  the trades, in the same transaction, so a restart resumes from what is on disk.
- Events are taken only when they continue ``through``; events past a gap are held
  (bounded: the oldest go first, and are asked for again) and the step asks the engine
  for the trades after ``through`` (``want``).  While an answer is awaited everything is
  held, so trades are taken in sequence order, missed ones before newer ones.
- A heartbeat says where the engine is: a sequence number other than ``through`` (and
  nothing held) means events were missed, or the engine's history went back below the
  feed's; either way the step asks, and the answer decides.
- An answer's trades after ``through`` are taken; a complete answer moves ``through`` to
  the engine's sequence number, then the held events that continue it are taken.  An
  answer whose engine sequence number is below ``through`` (the engine's history was
  wiped) starts over from 0, asking again.
- A trade id at or below the last one known is never taken (trade ids grow by one per
  trade), so a store written before sequence numbers were kept is not filled twice.
  Trades after the first one known that can no longer be had (a jump in trade ids, or
  a complete answer whose engine's last trade id is beyond what it gave) are counted in
  ``lost``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from actors.engine.protocol import PublicTrade, TradesSince
from feed.book import PublicEvent

MAX_HELD_MESSAGES = 20_000


@dataclass(slots=True)
class TradeStep:
    trades: list[PublicTrade] = field(default_factory=list)  # to take, in order
    want: bool = False  # ask the engine for the trades after ``through``
    lost: int = 0  # trades skipped for good by this step (a jump in trade ids)
    reset: bool = False  # the engine's history restarted below the feed's


class TradeSync:
    def __init__(self, through: int = 0, last_trade_id: int = 0) -> None:
        self.through = through
        self.last_trade_id = last_trade_id
        # A feed that starts asks before it takes anything: it may have missed trades.
        self.catching_up = True
        self.lost = 0
        self._held: deque[Sequence[PublicEvent]] = deque(maxlen=MAX_HELD_MESSAGES)

    def start(self) -> TradeStep:
        return TradeStep(want=True)

    def on_events(self, events: Sequence[PublicEvent]) -> TradeStep:
        """One engine message's public events, in order."""
        if not events:
            return TradeStep()
        if self.catching_up:
            self._held.append(events)
            return TradeStep(want=True)
        if events[0].seq > self.through + 1:
            self.catching_up = True
            self._held.append(events)
            return TradeStep(want=True)
        step = TradeStep()
        self._take(events, step)
        return step

    def on_heartbeat(self, seq: int) -> TradeStep:
        if self.catching_up:
            return TradeStep(want=True)
        if seq != self.through:
            self.catching_up = True
            return TradeStep(want=True)
        return TradeStep()

    def on_answer(self, answer: TradesSince) -> TradeStep:
        """The engine's answer to "the trades after ``through``"."""
        step = TradeStep()
        if answer.seq < self.through:
            self.through = 0
            self.last_trade_id = 0
            self._held.clear()
            self.catching_up = True
            return TradeStep(want=True, reset=True)
        self._take(answer.trades, step)
        if not answer.complete:
            step.want = True
            return step
        self.through = max(self.through, answer.seq)
        if answer.trade_id > self.last_trade_id:
            # Trades up to the engine's last one that this answer could not give: gone.
            if self.last_trade_id:
                missing = answer.trade_id - self.last_trade_id
                step.lost += missing
                self.lost += missing
            self.last_trade_id = answer.trade_id
        held = self._held
        while held:
            events = held[0]
            if events[-1].seq <= self.through:
                held.popleft()
                continue
            first = next(e for e in events if e.seq > self.through)
            if first.seq > self.through + 1:
                step.want = True  # still a gap: ask again from here
                return step
            held.popleft()
            self._take(events, step)
        self.catching_up = False
        return step

    def _take(self, events: Sequence[PublicEvent], step: TradeStep) -> None:
        through = self.through
        for event in events:
            if event.seq <= through:
                continue
            through = event.seq
            if isinstance(event, PublicTrade) and event.trade_id > self.last_trade_id:
                if self.last_trade_id and event.trade_id > self.last_trade_id + 1:
                    missing = event.trade_id - self.last_trade_id - 1
                    step.lost += missing
                    self.lost += missing
                self.last_trade_id = event.trade_id
                step.trades.append(event)
        self.through = through
