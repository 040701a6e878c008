"""The trades an engine retains and what a relay takes from them, against small models.

``TradeHistory`` (the engine's) is checked against "the last ``limit`` trades of the
list of all of them"; ``TradeSync`` (a relay's) against "every trade once, in order":
hypothesis draws an engine's public stream, which messages the relay loses, and when it
hears heartbeats and answers; the relay must take exactly the trades the engine can
still give, in order, and count the rest as lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.engine.history import TradeHistory
from actors.engine.messages import LevelChanged
from actors.engine.protocol import PublicTrade, TradesSince
from feed.book import PublicEvent
from feed.trades import TradeSync

MARKET = "BTC-USDT"


def stream(kinds: list[bool]) -> list[PublicEvent]:
    """A market's public events: True a trade, False a level change; seqs from 1."""
    events: list[PublicEvent] = []
    trade_id = 0
    for seq, is_trade in enumerate(kinds, 1):
        if is_trade:
            trade_id += 1
            events.append(PublicTrade(seq, trade_id, 100 + seq, 1, "buy", 1_000 + seq))
        else:
            events.append(LevelChanged(seq, "buy", 100, seq))
    return events


def trades_of(events: list[PublicEvent]) -> list[PublicTrade]:
    return [e for e in events if isinstance(e, PublicTrade)]


@given(
    kinds=st.lists(st.booleans(), max_size=120),
    limit=st.integers(0, 40),
    after=st.integers(0, 130),
    count=st.integers(1, 50),
)
def test_history_holds_the_newest_trades_and_says_from_where(
    kinds: list[bool], limit: int, after: int, count: int
) -> None:
    trades = trades_of(stream(kinds))
    history = TradeHistory(limit)
    for trade in trades:
        history.add(trade)
    kept = trades[max(0, len(trades) - limit) :] if limit else []
    dropped = trades[: len(trades) - len(kept)]
    assert list(history.trades) == kept
    assert history.horizon == (dropped[-1].seq if dropped else 0)
    wanted = [t for t in kept if t.seq > after]
    answer, complete = history.after(after, count)
    assert answer == wanted[:count]
    assert complete == (len(wanted) <= count)
    # A snapshot restored, under the same or a smaller limit, holds what it would have.
    smaller = max(0, limit - 3)
    again = TradeHistory(smaller, history.trades, history.horizon)
    reference = TradeHistory(smaller)
    for trade in trades:
        reference.add(trade)
    assert list(again.trades) == list(reference.trades)
    assert again.horizon == reference.horizon


@dataclass
class Engine:
    """The reference engine: every event it published, and the trades it retains."""

    events: list[PublicEvent]
    retain: int

    def answer(self, after: int, published: int, limit: int) -> TradesSince:
        """The answer once ``published`` events are out (the engine's seq)."""
        history = TradeHistory(self.retain)
        made = trades_of(self.events[:published])
        for trade in made:
            history.add(trade)
        trades, complete = history.after(after, limit)
        last_id = made[-1].trade_id if made else 0
        return TradesSince(MARKET, published, history.horizon, complete, trades, last_id)


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[PublicEvent], list[tuple[str, int]], int]:
    """Events, then a script: ("msg", n) the next n events as one message (maybe lost),
    ("lose", n) the next n events lost, ("beat", 0) a heartbeat, ("ask", 0) an answer."""
    events = stream(draw(st.lists(st.booleans(), min_size=1, max_size=80)))
    script: list[tuple[str, int]] = []
    left = len(events)
    while left:
        action = draw(st.sampled_from(["msg", "msg", "lose", "beat", "ask", "ask"]))
        if action in ("msg", "lose"):
            size = draw(st.integers(1, min(5, left)))
            left -= size
            script.append((action, size))
        else:
            script.append((action, 0))
    return events, script, draw(st.one_of(st.integers(0, 3), st.integers(0, 30)))


@settings(max_examples=1000)
@given(run=runs(), limit=st.integers(1, 7))
def test_a_relay_takes_every_trade_the_engine_can_give_once_and_in_order(
    run: tuple[list[PublicEvent], list[tuple[str, int]], int], limit: int
) -> None:
    events, script, retain = run
    engine = Engine(events, retain)
    sync = TradeSync()
    taken: list[PublicTrade] = []
    published = 0
    asking = sync.start().want
    known_from = 0  # the first trade id the relay knew of, by a trade or an answer

    def take(step_trades: list[PublicTrade], want: bool) -> None:
        nonlocal asking, known_from
        taken.extend(step_trades)
        asking = asking or want
        if not known_from:
            known_from = step_trades[0].trade_id if step_trades else sync.last_trade_id

    def answer() -> None:
        nonlocal asking
        asking = False
        step = sync.on_answer(engine.answer(sync.through, published, limit))
        take(step.trades, step.want)

    for action, size in script:
        if action == "msg":
            step = sync.on_events(events[published : published + size])
            published += size
            take(step.trades, step.want)
        elif action == "lose":
            published += size
        elif action == "beat":
            step = sync.on_heartbeat(published)
            take(step.trades, step.want)
        elif asking:
            answer()
    # The engine goes quiet: heartbeats and answers until the relay has all it can get.
    step = sync.on_heartbeat(published)
    take(step.trades, step.want)
    for _ in range(len(events) + 2):
        if not asking:
            break
        answer()
    assert not asking and not sync.catching_up
    every = trades_of(events)
    assert [t.trade_id for t in taken] == sorted({t.trade_id for t in taken}), "once, in order"
    assert set(taken) <= set(every)
    # Every trade the engine still retains at the end was taken: nothing it can give is
    # missing, and what is missing is counted as lost (after the first trade it knew of).
    retained = every[max(0, len(every) - retain) :] if retain else []
    assert set(retained) <= set(taken)
    if known_from:
        missed = [t for t in every if t.trade_id > known_from and t not in taken]
        assert sync.lost == len(missed)
    if retain >= len(every):
        assert taken == every
    assert sync.through == published


def test_a_wiped_engine_is_followed_from_its_start() -> None:
    sync = TradeSync(through=50, last_trade_id=20)
    assert sync.start().want
    fresh = stream([True, False, True])
    step = sync.on_answer(TradesSince(MARKET, 3, 0, True, trades_of(fresh)))
    assert step.reset and step.want and sync.through == 0
    step = sync.on_answer(TradesSince(MARKET, 3, 0, True, trades_of(fresh)))
    assert step.trades == trades_of(fresh) and sync.through == 3 and not sync.catching_up


def test_a_store_without_a_cursor_is_not_filled_twice() -> None:
    # A store written before cursors: 5 trades on disk, the cursor unknown (0).
    events = stream([True] * 8)
    sync = TradeSync(through=0, last_trade_id=5)
    step = sync.on_answer(TradesSince(MARKET, 8, 0, True, trades_of(events)))
    assert [t.trade_id for t in step.trades] == [6, 7, 8]
    assert sync.lost == 0
