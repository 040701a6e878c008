"""Scenario tables: the book before, a command, the events it must produce, the book after.

The market: tick 10, lot 10, base scale 100, so at price 100 one base unit costs one
quote unit.  Books are written one level per line, asks above bids, best price nearest
the middle, orders in time priority; then the orders waiting for their trigger, in
trigger order (those a rise triggers, then those a fall triggers); then the live OCO
lists::

    ask 110 (10): #2 u2 10
    ask 100 (15): #1 u2 10, #4 u3 5/10      <- #4 has 5 of 10 left
    bid  90 (10): #3 u3 10 post             <- a post-only order
    bid  80 (10): #5 u1 10 exp 500          <- a GTD order, expiring at 500
    wait #6 u1 stop_limit buy 10 at 130 stop 120
    wait #7 u2 stop_market sell 10 stop 70 exp 900
    wait #8 u3 take_profit_market buy q500 stop 60   <- a buy of 500 quote units
    list 9 u1: #5 + #7                      <- limit leg, stop leg

Events are written one per line; ``seq`` and ``trade_id`` are left out of the text and
checked separately (contiguous from the engine's previous values).
"""

from __future__ import annotations

import re

from engine_streams import check_book

from actors.engine.engine import EngineSnapshot, MatchingEngine, OcoList, SnapshotOrder
from actors.engine.messages import (
    Accepted,
    Amended,
    Command,
    ConditionalType,
    Done,
    Event,
    LevelChanged,
    MarketStatus,
    Place,
    PlaceList,
    PlaceTimeInForce,
    Rejected,
    SelfTradePrevention,
    Side,
    Trade,
    Triggered,
)

TICK, LOT, BASE_SCALE = 10, 10, 100
_SIDE_NAME: dict[Side, str] = {"buy": "bid", "sell": "ask"}
_LINE = re.compile(r"(ask|bid)\s+(\d+)\s+\((\d+)\):\s*(.*)")
_ORDER = re.compile(r"#(\d+) u(\d+) (\d+)(?:/(\d+))?( post)?(?: exp (\d+))?")
_WAIT = re.compile(
    r"wait #(\d+) u(\d+) (\w+) (buy|sell) (q?)(\d+)(?: at (\d+))? stop (\d+)"
    r"(?: (IOC|FOK))?(?: exp (\d+))?"
)
_LIST = re.compile(r"list (\d+) u(\d+): #(\d+) \+ #(\d+)")

# --- rendering ------------------------------------------------------------------------


def render_waiting(order: Place) -> str:
    size = f"q{order.quote_qty}" if order.quote_qty else str(order.qty)
    text = f"wait #{order.order_id} u{order.user_id} {order.type} {order.side} {size}"
    if order.price:
        text += f" at {order.price}"
    text += f" stop {order.stop_price}"
    if order.time_in_force in ("IOC", "FOK"):
        text += f" {order.time_in_force}"
    if order.expire_time:
        text += f" exp {order.expire_time}"
    return text


def render_book(engine: MatchingEngine) -> list[str]:
    rendered = []
    for book in (engine.asks, engine.bids):
        levels = book.levels_best_first()
        if book.side == "sell":
            levels.reverse()
        for level in levels:
            orders = ", ".join(
                f"#{o.order_id} u{o.user_id} {o.remaining}"
                + (f"/{o.qty}" if o.remaining != o.qty else "")
                + (" post" if o.post_only else "")
                + (f" exp {o.expire_time}" if o.expire_time else "")
                for o in level.orders.values()
            )
            rendered.append(f"{_SIDE_NAME[book.side]} {level.price} ({level.total}): {orders}")
    rendered += [render_waiting(order) for order in engine.stops.in_trigger_order()]
    for oco in sorted(engine.lists.values(), key=lambda oco: oco.list_id):
        rendered.append(f"list {oco.list_id} u{oco.user_id}: #{oco.limit_id} + #{oco.stop_id}")
    return rendered


def render_event(event: Event) -> str:
    match event:
        case Accepted():
            return f"accepted #{event.order_id}"
        case Rejected():
            return f"rejected #{event.order_id} {event.reason}"
        case Trade():
            return (
                f"trade {event.price} x {event.qty}"
                f" | taker #{event.taker_order_id} u{event.taker_user_id} {event.taker_side}"
                f" | maker #{event.maker_order_id} u{event.maker_user_id}"
            )
        case Done():
            left = f" {event.remaining}" if event.remaining else ""
            return f"done #{event.order_id} {event.status}{left}"
        case Amended():
            return (
                f"amended #{event.order_id} price {event.price} qty {event.qty}"
                f" remaining {event.remaining}"
            )
        case Triggered():
            return f"triggered #{event.order_id}"
        case LevelChanged():
            return f"level {_SIDE_NAME[event.side]} {event.price} -> {event.total}"


def lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.strip().splitlines() if line.strip()]


# --- building and running -------------------------------------------------------------


def book(
    text: str = "",
    *,
    stp: SelfTradePrevention = "expire_taker",
    last: int = 0,
    now: int = 0,
    status: MarketStatus = "trading",
) -> MatchingEngine:
    """An engine holding exactly the book ``text`` describes (seq 0, trade id 0), whose
    last trade was at ``last`` (0: none yet) and whose time is ``now``."""
    orders = []
    waiting = []
    lists = []
    for line in lines(text):
        if line.startswith("wait "):
            waiting.append(_parse_waiting(line, stp))
            continue
        if line.startswith("list "):
            found = _LIST.fullmatch(line)
            assert found, f"bad list line: {line}"
            lists.append(OcoList(*(int(found[i]) for i in range(1, 5))))
            continue
        match = _LINE.fullmatch(line)
        assert match, f"bad book line: {line}"
        side: Side = "sell" if match[1] == "ask" else "buy"
        price = int(match[2])
        for part in match[4].split(","):
            order = _ORDER.fullmatch(part.strip())
            assert order, f"bad order: {part}"
            remaining = int(order[3])
            qty = int(order[4] or remaining)
            orders.append(
                SnapshotOrder(
                    int(order[1]),
                    int(order[2]),
                    side,
                    price,
                    qty,
                    remaining,
                    bool(order[5]),
                    stp,
                    int(order[6] or 0),
                )
            )
    snapshot = EngineSnapshot(
        "TEST", 0, 0, status == "halted", orders, status, now, last, waiting, lists
    )
    engine = MatchingEngine.restore(snapshot, TICK, LOT, BASE_SCALE)
    assert render_book(engine) == lines(text), "the book text is not in canonical form"
    return engine


def _parse_waiting(line: str, stp: SelfTradePrevention) -> Place:
    found = _WAIT.fullmatch(line)
    assert found, f"bad waiting order: {line}"
    size = int(found[6])
    expire_time = int(found[10] or 0)
    tif: PlaceTimeInForce = "GTD" if expire_time else found[9] or "GTC"  # type: ignore[assignment]
    return Place(
        int(found[1]),
        int(found[2]),
        found[4],  # type: ignore[arg-type]
        found[3],  # type: ignore[arg-type]
        int(found[7] or 0),
        0 if found[5] else size,
        quote_qty=size if found[5] else 0,
        time_in_force=tif,
        stp=stp,
        stop_price=int(found[8]),
        expire_time=expire_time,
    )


def step(
    engine: MatchingEngine, command: Command, events: str, after: str, *, now: int = 0
) -> None:
    seq, trade_id = engine.seq, engine.trade_id
    got = engine.apply(command, now)
    assert [render_event(e) for e in got] == lines(events)
    assert render_book(engine) == lines(after)
    check_book(engine)
    for event in got:
        if isinstance(event, Trade | LevelChanged):
            seq += 1
            assert event.seq == seq
        if isinstance(event, Trade):
            trade_id += 1
            assert event.trade_id == trade_id
    assert engine.seq == seq and engine.trade_id == trade_id


def scenario(
    before: str, command: Command, events: str, after: str, *, last: int = 0, now: int = 0
) -> MatchingEngine:
    """The book ``before`` (last trade at ``last``, time ``now``), then ``command`` at
    ``now``."""
    engine = book(before, last=last, now=now)
    step(engine, command, events, after, now=now)
    return engine


def limit(
    order_id: int,
    user_id: int,
    side: Side,
    price: int,
    qty: int,
    *,
    tif: str = "GTC",
    post_only: bool = False,
    stp: SelfTradePrevention = "expire_taker",
    expire_time: int = 0,
) -> Place:
    assert tif in ("GTC", "IOC", "FOK", "GTD")
    return Place(
        order_id,
        user_id,
        side,
        "limit",
        price,
        qty,
        time_in_force=tif,  # type: ignore[arg-type]
        post_only=post_only,
        stp=stp,
        expire_time=expire_time,
    )


def market(
    order_id: int,
    user_id: int,
    side: Side,
    *,
    qty: int = 0,
    quote: int = 0,
    worst: int = 0,
    stp: SelfTradePrevention = "expire_taker",
) -> Place:
    return Place(order_id, user_id, side, "market", worst, qty, quote_qty=quote, stp=stp)


def conditional(
    order_id: int,
    user_id: int,
    kind: ConditionalType,
    side: Side,
    *,
    stop: int,
    qty: int = 0,
    price: int = 0,
    quote: int = 0,
    tif: PlaceTimeInForce = "GTC",
    expire_time: int = 0,
    post_only: bool = False,
) -> Place:
    """A stop or take-profit order: ``price`` is the limit (or a market buy's worst)."""
    return Place(
        order_id,
        user_id,
        side,
        kind,
        price,
        qty,
        quote_qty=quote,
        time_in_force=tif,
        post_only=post_only,
        stop_price=stop,
        expire_time=expire_time,
    )


def oco(list_id: int, limit_leg: Place, stop_leg: Place) -> PlaceList:
    return PlaceList(list_id, limit_leg, stop_leg)
