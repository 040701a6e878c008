"""Scenario tables of conditional orders, GTD expiry, OCO lists and market statuses.
How to read them: scenario_kit.py."""

from __future__ import annotations

import pytest
from scenario_kit import book, conditional, limit, market, oco, render_book, scenario, step

from actors.engine.messages import (
    Amend,
    Cancel,
    CancelAll,
    CancelList,
    Halt,
    Place,
    SetStatus,
    Tick,
)

# --- triggers, one per direction ---------------------------------------------------------

ASKS_UP = """
    ask 120 (10): #3 u2 10
    ask 110 (10): #2 u2 10
    ask 100 (10): #1 u2 10
"""


@pytest.mark.parametrize("kind", ["stop_market", "take_profit_market"])
def test_an_order_that_triggers_on_a_rise_waits_until_a_trade_reaches_its_stop(kind: str) -> None:
    # A stop buy and a take-profit sell trigger when the last price rises to the stop.
    side = "buy" if kind == "stop_market" else "sell"
    waiting = f"wait #5 u1 {kind} {side} 10 stop 110"
    engine = book(ASKS_UP + "bid 90 (10): #4 u3 10\n" + waiting, last=90)
    step(
        engine,
        limit(6, 4, "buy", 100, 10),
        """
        accepted #6
        trade 100 x 10 | taker #6 u4 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        done #6 filled
        """,
        "ask 120 (10): #3 u2 10\nask 110 (10): #2 u2 10\nbid 90 (10): #4 u3 10\n" + waiting,
    )
    assert engine.last_price == 100
    # A trade at 110 triggers it; it is matched once that taker has finished.
    if side == "buy":
        triggered = """
            triggered #5
            trade 120 x 10 | taker #5 u1 buy | maker #3 u2
            done #3 filled
            level ask 120 -> 0
            done #5 filled
        """
        after = "bid 90 (10): #4 u3 10"
    else:
        triggered = """
            triggered #5
            trade 90 x 10 | taker #5 u1 sell | maker #4 u3
            done #4 filled
            level bid 90 -> 0
            done #5 filled
        """
        after = "ask 120 (10): #3 u2 10"
    step(
        engine,
        limit(7, 4, "buy", 110, 10),
        """
        accepted #7
        trade 110 x 10 | taker #7 u4 buy | maker #2 u2
        done #2 filled
        level ask 110 -> 0
        done #7 filled
        """
        + triggered,
        after,
    )


BIDS_DOWN = """
    ask 130 (10): #4 u3 10
    bid 100 (10): #1 u2 10
    bid  90 (10): #2 u2 10
    bid  80 (10): #3 u2 10
"""


@pytest.mark.parametrize("kind", ["stop_limit", "take_profit_limit"])
def test_an_order_that_triggers_on_a_fall_waits_until_a_trade_reaches_its_stop(kind: str) -> None:
    # A stop sell and a take-profit buy trigger when the last price falls to the stop.
    if kind == "stop_limit":
        waiting = "wait #5 u1 stop_limit sell 10 at 80 stop 90"
        triggered = """
            triggered #5
            trade 80 x 10 | taker #5 u1 sell | maker #3 u2
            done #3 filled
            level bid 80 -> 0
            done #5 filled
        """
        after = "ask 130 (10): #4 u3 10"
    else:
        waiting = "wait #5 u1 take_profit_limit buy 10 at 130 stop 90"
        triggered = """
            triggered #5
            trade 130 x 10 | taker #5 u1 buy | maker #4 u3
            done #4 filled
            level ask 130 -> 0
            done #5 filled
        """
        after = "bid 80 (10): #3 u2 10"
    engine = book(BIDS_DOWN + waiting, last=110)
    step(
        engine,
        market(6, 4, "sell", qty=10),
        """
        accepted #6
        trade 100 x 10 | taker #6 u4 sell | maker #1 u2
        done #1 filled
        level bid 100 -> 0
        done #6 filled
        """,
        "ask 130 (10): #4 u3 10\nbid 90 (10): #2 u2 10\nbid 80 (10): #3 u2 10\n" + waiting,
    )
    step(
        engine,
        market(7, 4, "sell", qty=10),
        """
        accepted #7
        trade 90 x 10 | taker #7 u4 sell | maker #2 u2
        done #2 filled
        level bid 90 -> 0
        done #7 filled
        """
        + triggered,
        after,
    )


def test_a_triggered_limit_order_that_does_not_cross_rests_in_the_book() -> None:
    scenario(
        """
        ask 110 (10): #1 u2 10
        wait #5 u1 stop_limit buy 10 at 100 stop 110
        """,
        market(6, 3, "buy", qty=10),
        """
        accepted #6
        trade 110 x 10 | taker #6 u3 buy | maker #1 u2
        done #1 filled
        level ask 110 -> 0
        done #6 filled
        triggered #5
        level bid 100 -> 10
        """,
        "bid 100 (10): #5 u1 10",
        last=100,
    )


def test_a_cascade_of_triggers_runs_until_the_book_stops_it() -> None:
    scenario(
        """
        bid 100 (10): #1 u1 10
        bid  90 (10): #2 u2 10
        bid  80 (10): #3 u3 10
        bid  70 (10): #4 u4 10
        wait #5 u5 stop_market sell 10 stop 90
        wait #6 u6 stop_market sell 10 stop 80
        wait #8 u8 stop_market sell 10 stop 60
        """,
        limit(7, 7, "sell", 90, 20),
        """
        accepted #7
        trade 100 x 10 | taker #7 u7 sell | maker #1 u1
        done #1 filled
        level bid 100 -> 0
        trade 90 x 10 | taker #7 u7 sell | maker #2 u2
        done #2 filled
        level bid 90 -> 0
        done #7 filled
        triggered #5
        trade 80 x 10 | taker #5 u5 sell | maker #3 u3
        done #3 filled
        level bid 80 -> 0
        done #5 filled
        triggered #6
        trade 70 x 10 | taker #6 u6 sell | maker #4 u4
        done #4 filled
        level bid 70 -> 0
        done #6 filled
        """,
        "wait #8 u8 stop_market sell 10 stop 60",
        last=110,
    )


def test_a_stop_crossed_inside_a_sweep_waits_for_the_whole_sweep() -> None:
    scenario(
        """
        ask 130 (10): #4 u2 10
        ask 120 (10): #3 u2 10
        ask 110 (10): #2 u2 10
        ask 100 (10): #1 u2 10
        wait #9 u1 stop_market buy 10 stop 110
        """,
        limit(5, 3, "buy", 120, 30),
        """
        accepted #5
        trade 100 x 10 | taker #5 u3 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        trade 110 x 10 | taker #5 u3 buy | maker #2 u2
        done #2 filled
        level ask 110 -> 0
        trade 120 x 10 | taker #5 u3 buy | maker #3 u2
        done #3 filled
        level ask 120 -> 0
        done #5 filled
        triggered #9
        trade 130 x 10 | taker #9 u1 buy | maker #4 u2
        done #4 filled
        level ask 130 -> 0
        done #9 filled
        """,
        "",
        last=90,
    )


def test_orders_trigger_in_the_order_the_price_path_crosses_their_stops() -> None:
    # The last price was 105; a buy sweeps the asks from 100 up to 120.  The path falls
    # to 100 first (crossing the stop sell at 100), then rises through 110 (two stop buys,
    # oldest first) and 120.  Each triggered order rests, so the levels show the order.
    scenario(
        """
        ask 120 (10): #3 u2 10
        ask 110 (10): #2 u2 10
        ask 100 (10): #1 u2 10
        wait #12 u1 stop_limit buy 10 at 50 stop 110
        wait #14 u1 stop_limit buy 10 at 60 stop 110
        wait #13 u1 stop_limit buy 10 at 70 stop 120
        wait #15 u1 stop_limit buy 10 at 80 stop 130
        wait #11 u1 stop_limit sell 10 at 200 stop 100
        wait #16 u1 stop_limit sell 10 at 210 stop 90
        """,
        limit(5, 3, "buy", 120, 30),
        """
        accepted #5
        trade 100 x 10 | taker #5 u3 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        trade 110 x 10 | taker #5 u3 buy | maker #2 u2
        done #2 filled
        level ask 110 -> 0
        trade 120 x 10 | taker #5 u3 buy | maker #3 u2
        done #3 filled
        level ask 120 -> 0
        done #5 filled
        triggered #11
        triggered #12
        triggered #14
        triggered #13
        level ask 200 -> 10
        level bid 50 -> 10
        level bid 60 -> 10
        level bid 70 -> 10
        """,
        """
        ask 200 (10): #11 u1 10
        bid  70 (10): #13 u1 10
        bid  60 (10): #14 u1 10
        bid  50 (10): #12 u1 10
        wait #15 u1 stop_limit buy 10 at 80 stop 130
        wait #16 u1 stop_limit sell 10 at 210 stop 90
        """,
        last=105,
    )


def test_a_sell_sweep_crosses_rises_first_then_falls() -> None:
    # Last 95; a sell sweeps the bids from 100 down to 80: up to 100 first (a take-profit
    # sell at 100), then down through 90 and 80 (take-profit buys, the higher first).
    scenario(
        """
        bid 100 (10): #1 u2 10
        bid  90 (10): #2 u2 10
        bid  80 (10): #3 u2 10
        wait #11 u1 take_profit_limit sell 10 at 300 stop 100
        wait #12 u1 take_profit_limit buy 10 at 20 stop 90
        wait #13 u1 take_profit_limit buy 10 at 10 stop 80
        """,
        market(5, 3, "sell", qty=30),
        """
        accepted #5
        trade 100 x 10 | taker #5 u3 sell | maker #1 u2
        done #1 filled
        level bid 100 -> 0
        trade 90 x 10 | taker #5 u3 sell | maker #2 u2
        done #2 filled
        level bid 90 -> 0
        trade 80 x 10 | taker #5 u3 sell | maker #3 u2
        done #3 filled
        level bid 80 -> 0
        done #5 filled
        triggered #11
        triggered #12
        triggered #13
        level ask 300 -> 10
        level bid 20 -> 10
        level bid 10 -> 10
        """,
        """
        ask 300 (10): #11 u1 10
        bid  20 (10): #12 u1 10
        bid  10 (10): #13 u1 10
        """,
        last=95,
    )


def test_untriggered_orders_are_not_in_the_depth() -> None:
    engine = book("bid 90 (10): #1 u1 10\nwait #2 u1 stop_limit buy 10 at 120 stop 110", last=100)
    assert engine.depth(10) == ([(90, 10)], [])


# --- placing, cancelling, amending a conditional order -------------------------------------


@pytest.mark.parametrize(
    ("kind", "side", "stop", "refused"),
    [
        ("stop_market", "buy", 100, True),  # a stop buy triggers at last >= stop
        ("stop_market", "buy", 110, False),
        ("stop_market", "sell", 100, True),  # a stop sell at last <= stop
        ("stop_market", "sell", 90, False),
        ("take_profit_market", "buy", 100, True),  # a take-profit buy at last <= stop
        ("take_profit_market", "buy", 90, False),
        ("take_profit_market", "sell", 100, True),  # a take-profit sell at last >= stop
        ("take_profit_market", "sell", 110, False),
    ],
)
def test_an_order_whose_condition_already_holds_is_refused(
    kind: str, side: str, stop: int, refused: bool
) -> None:
    command = conditional(5, 1, kind, side, stop=stop, qty=10)  # type: ignore[arg-type]
    after = "" if refused else f"wait #5 u1 {kind} {side} 10 stop {stop}"
    answer = "rejected #5 WOULD_TRIGGER_IMMEDIATELY" if refused else "accepted #5"
    scenario("", command, answer, after, last=100)
    # Before the first trade of the market, nothing triggers.
    scenario("", command, "accepted #5", f"wait #5 u1 {kind} {side} 10 stop {stop}")


def test_an_untriggered_order_is_cancelled_but_never_amended() -> None:
    engine = book("wait #5 u1 stop_limit buy 10 at 120 stop 110", last=100)
    step(engine, Amend(5, 1, qty=20), "rejected #5 ORDER_NOT_AMENDABLE", render_book(engine)[0])
    step(engine, Cancel(5, 2), "rejected #5 ORDER_NOT_FOUND", render_book(engine)[0])
    step(engine, Amend(5, 2, qty=20), "rejected #5 ORDER_NOT_FOUND", render_book(engine)[0])
    step(engine, Cancel(5, 1), "done #5 cancelled 10", "")
    step(engine, Cancel(5, 1), "rejected #5 ORDER_NOT_FOUND", "")


def test_an_untriggered_order_id_cannot_be_placed_again() -> None:
    before = "wait #5 u1 stop_limit buy 10 at 120 stop 110"
    scenario(before, limit(5, 1, "buy", 90, 10), "rejected #5 DUPLICATE_ORDER_ID", before)


def test_cancel_all_takes_untriggered_orders_too() -> None:
    scenario(
        """
        bid 90 (10): #3 u1 10
        wait #2 u1 stop_market buy 10 stop 110
        wait #4 u2 stop_market buy 10 stop 120
        """,
        CancelAll(1),
        """
        done #2 cancelled 10
        done #3 cancelled 10
        level bid 90 -> 0
        """,
        "wait #4 u2 stop_market buy 10 stop 120",
        last=100,
    )


def test_invalid_conditional_orders_are_rejected() -> None:
    invalid = [
        conditional(5, 1, "stop_limit", "buy", stop=0, qty=10, price=120),  # no stop
        conditional(5, 1, "stop_limit", "buy", stop=115, qty=10, price=120),  # off tick
        conditional(5, 1, "stop_limit", "buy", stop=110, qty=10),  # a limit needs a price
        conditional(5, 1, "stop_limit", "buy", stop=110, qty=15, price=120),  # off lot
        conditional(5, 1, "stop_limit", "buy", stop=110, qty=10, price=120, post_only=True),
        conditional(5, 1, "stop_market", "sell", stop=90, quote=100),  # only buys by quote
        conditional(5, 1, "stop_market", "buy", stop=110, qty=0),  # no size
        Place(5, 1, "buy", "limit", 90, 10, stop_price=80),  # a plain order has no stop
        Place(5, 1, "buy", "market", 0, 10, stop_price=80),
    ]
    for command in invalid:
        scenario("", command, "rejected #5 INVALID_ORDER", "", last=100)


# --- GTD ------------------------------------------------------------------------------------


def test_gtd_orders_expire_on_a_tick_when_their_time_comes() -> None:
    engine = book(
        """
        bid 100 (10): #1 u1 10 exp 500
        bid  90 (10): #3 u3 10 exp 600
        wait #2 u2 stop_market sell 10 stop 80 exp 500
        """,
        last=100,
        now=400,
    )
    before = render_book(engine)
    assert engine.next_expiry() == 500
    step(engine, Tick(), "", "\n".join(before), now=499)
    step(
        engine,
        Tick(),
        """
        done #1 expired 10
        level bid 100 -> 0
        done #2 expired 10
        """,
        "bid 90 (10): #3 u3 10 exp 600",
        now=500,
    )
    assert engine.next_expiry() == 600
    step(engine, Tick(), "done #3 expired 10\nlevel bid 90 -> 0", "", now=650)
    assert engine.next_expiry() is None


def test_on_a_busy_market_what_is_due_expires_before_the_next_command() -> None:
    step(
        book("ask 100 (10): #1 u1 10 exp 500", now=400),
        limit(5, 2, "buy", 100, 10),
        """
        done #1 expired 10
        level ask 100 -> 0
        accepted #5
        level bid 100 -> 10
        """,
        "bid 100 (10): #5 u2 10",
        now=500,
    )


def test_a_gtd_order_rests_until_it_expires_and_leaves_the_index_when_filled() -> None:
    engine = book(now=100)
    step(
        engine,
        limit(1, 1, "sell", 100, 20, tif="GTD", expire_time=900),
        "accepted #1\nlevel ask 100 -> 20",
        "ask 100 (20): #1 u1 20 exp 900",
        now=100,
    )
    assert engine.next_expiry() == 900
    step(
        engine,
        limit(2, 2, "buy", 100, 20),
        """
        accepted #2
        trade 100 x 20 | taker #2 u2 buy | maker #1 u1
        done #1 filled
        level ask 100 -> 0
        done #2 filled
        """,
        "",
        now=200,
    )
    assert engine.next_expiry() is None


def test_a_triggered_gtd_order_keeps_its_expiry() -> None:
    engine = book(
        """
        ask 110 (10): #1 u2 10
        wait #5 u1 stop_limit buy 10 at 100 stop 110 exp 900
        """,
        last=100,
        now=100,
    )
    step(
        engine,
        market(6, 3, "buy", qty=10),
        """
        accepted #6
        trade 110 x 10 | taker #6 u3 buy | maker #1 u2
        done #1 filled
        level ask 110 -> 0
        done #6 filled
        triggered #5
        level bid 100 -> 10
        """,
        "bid 100 (10): #5 u1 10 exp 900",
        now=200,
    )
    step(engine, Tick(), "done #5 expired 10\nlevel bid 100 -> 0", "", now=900)


def test_gtd_needs_an_expiry_after_now_and_only_gtd_has_one() -> None:
    for command in [
        limit(5, 1, "buy", 90, 10, tif="GTD", expire_time=500),  # not after now
        limit(5, 1, "buy", 90, 10, tif="GTD", expire_time=0),
        limit(5, 1, "buy", 90, 10, tif="GTC", expire_time=900),
        limit(5, 1, "buy", 90, 10, tif="IOC", expire_time=900),
        conditional(5, 1, "stop_market", "buy", stop=120, qty=10, tif="GTD", expire_time=400),
    ]:
        scenario("", command, "rejected #5 INVALID_ORDER", "", now=500, last=100)
    scenario(
        "",
        limit(5, 1, "buy", 90, 10, tif="GTD", expire_time=501, post_only=True),
        "accepted #5\nlevel bid 90 -> 10",
        "bid 90 (10): #5 u1 10 post exp 501",
        now=500,
    )


def test_time_never_goes_back() -> None:
    engine = book("bid 90 (10): #1 u1 10 exp 500", now=400)
    step(engine, Tick(), "", "bid 90 (10): #1 u1 10 exp 500", now=300)
    assert engine.now == 400
    step(
        engine,
        limit(5, 1, "buy", 80, 10, tif="GTD", expire_time=350),
        "rejected #5 INVALID_ORDER",
        "bid 90 (10): #1 u1 10 exp 500",
        now=300,
    )


# --- OCO ------------------------------------------------------------------------------------

OCO_BOOK = """
    ask 130 (10): #2 u3 10
    bid 100 (10): #1 u2 10
    bid  90 (10): #3 u2 10
"""
SELL_OCO = oco(
    9,
    limit(5, 1, "sell", 120, 20),
    conditional(6, 1, "stop_limit", "sell", stop=90, qty=20, price=80),
)
OCO_LIVE = """
    ask 130 (10): #2 u3 10
    ask 120 (20): #5 u1 20
    bid 100 (10): #1 u2 10
    bid  90 (10): #3 u2 10
    wait #6 u1 stop_limit sell 20 at 80 stop 90
    list 9 u1: #5 + #6
"""


def test_a_list_rests_its_limit_leg_and_keeps_its_stop_leg_waiting() -> None:
    scenario(
        OCO_BOOK, SELL_OCO, "accepted #5\naccepted #6\nlevel ask 120 -> 20", OCO_LIVE, last=100
    )


def test_a_fill_of_the_limit_leg_cancels_the_stop_leg() -> None:
    engine = book(OCO_LIVE, last=100)
    step(
        engine,
        limit(7, 4, "buy", 120, 20),
        """
        accepted #7
        trade 120 x 20 | taker #7 u4 buy | maker #5 u1
        done #5 filled
        level ask 120 -> 0
        done #7 filled
        done #6 cancelled 20
        """,
        OCO_BOOK,
    )


def test_a_partial_fill_of_the_limit_leg_cancels_the_stop_leg() -> None:
    engine = book(OCO_LIVE, last=100)
    step(
        engine,
        limit(7, 4, "buy", 120, 10),
        """
        accepted #7
        trade 120 x 10 | taker #7 u4 buy | maker #5 u1
        level ask 120 -> 10
        done #7 filled
        done #6 cancelled 20
        """,
        """
        ask 130 (10): #2 u3 10
        ask 120 (10): #5 u1 10/20
        bid 100 (10): #1 u2 10
        bid  90 (10): #3 u2 10
        """,
    )
    # What is left of the limit leg is a plain order now.
    step(
        engine,
        Cancel(5, 1),
        "done #5 cancelled 10\nlevel ask 120 -> 0",
        OCO_BOOK,
    )


def test_the_trigger_of_the_stop_leg_cancels_the_limit_leg() -> None:
    engine = book(OCO_LIVE, last=100)
    step(
        engine,
        limit(7, 4, "sell", 90, 20),
        """
        accepted #7
        trade 100 x 10 | taker #7 u4 sell | maker #1 u2
        done #1 filled
        level bid 100 -> 0
        trade 90 x 10 | taker #7 u4 sell | maker #3 u2
        done #3 filled
        level bid 90 -> 0
        done #7 filled
        triggered #6
        done #5 cancelled 20
        level ask 120 -> 0
        level ask 80 -> 20
        """,
        """
        ask 130 (10): #2 u3 10
        ask  80 (20): #6 u1 20
        """,
    )


def test_cancelling_the_list_or_either_leg_cancels_both() -> None:
    both = """
        done #5 cancelled 20
        level ask 120 -> 0
        done #6 cancelled 20
    """
    step(book(OCO_LIVE, last=100), CancelList(9, 1), both, OCO_BOOK)
    step(book(OCO_LIVE, last=100), Cancel(5, 1), both, OCO_BOOK)
    step(
        book(OCO_LIVE, last=100),
        Cancel(6, 1),
        "done #6 cancelled 20\ndone #5 cancelled 20\nlevel ask 120 -> 0",
        OCO_BOOK,
    )
    step(book(OCO_LIVE, last=100), CancelAll(1), both, OCO_BOOK)
    step(book(OCO_LIVE, last=100), CancelList(9, 2), "rejected #9 ORDER_NOT_FOUND", OCO_LIVE)
    step(book(OCO_LIVE, last=100), CancelList(8, 1), "rejected #8 ORDER_NOT_FOUND", OCO_LIVE)


def test_legs_of_a_live_list_are_not_amended() -> None:
    engine = book(OCO_LIVE, last=100)
    step(engine, Amend(5, 1, qty=10), "rejected #5 ORDER_NOT_AMENDABLE", OCO_LIVE)
    step(engine, Amend(6, 1, qty=10), "rejected #6 ORDER_NOT_AMENDABLE", OCO_LIVE)


def test_a_limit_leg_that_takes_at_once_ends_the_list() -> None:
    scenario(
        OCO_BOOK,
        oco(
            9,
            limit(5, 1, "sell", 100, 10),
            conditional(6, 1, "stop_market", "sell", stop=80, qty=10),
        ),
        """
        accepted #5
        accepted #6
        trade 100 x 10 | taker #5 u1 sell | maker #1 u2
        done #1 filled
        level bid 100 -> 0
        done #5 filled
        done #6 cancelled 10
        """,
        """
        ask 130 (10): #2 u3 10
        bid  90 (10): #3 u2 10
        """,
        last=100,
    )


def test_a_list_whose_stop_leg_would_trigger_at_once_is_refused_whole() -> None:
    scenario(
        OCO_BOOK,
        oco(
            9,
            limit(5, 1, "sell", 120, 10),
            conditional(6, 1, "stop_market", "sell", stop=100, qty=10),
        ),
        """
        rejected #5 WOULD_TRIGGER_IMMEDIATELY
        rejected #6 WOULD_TRIGGER_IMMEDIATELY
        """,
        OCO_BOOK,
        last=100,
    )


def test_malformed_lists_are_refused_whole() -> None:
    stop_leg = conditional(6, 1, "stop_market", "sell", stop=80, qty=10)
    for limit_leg, other in [
        (limit(5, 1, "buy", 120, 10), stop_leg),  # not the same side
        (limit(5, 2, "sell", 120, 10), stop_leg),  # not the same user
        (limit(5, 1, "sell", 120, 10, tif="IOC"), stop_leg),  # a leg that cannot rest
        (market(5, 1, "sell", qty=10), stop_leg),  # no limit leg
        (
            limit(5, 1, "sell", 120, 10),
            conditional(6, 1, "take_profit_market", "sell", stop=130, qty=10),
        ),
        (limit(5, 1, "sell", 120, 10, tif="GTD", expire_time=900), stop_leg),  # one expiry
    ]:
        scenario(
            OCO_BOOK,
            oco(9, limit_leg, other),
            "rejected #5 INVALID_ORDER\nrejected #6 INVALID_ORDER",
            OCO_BOOK,
            last=100,
        )
    scenario(
        OCO_LIVE,
        oco(
            9,
            limit(5, 1, "sell", 120, 10),
            conditional(8, 1, "stop_market", "sell", stop=80, qty=10),
        ),
        "rejected #5 DUPLICATE_ORDER_ID\nrejected #8 DUPLICATE_ORDER_ID",
        OCO_LIVE,
        last=100,
    )


def test_a_gtd_list_expires_whole() -> None:
    engine = book(OCO_BOOK, last=100, now=100)
    step(
        engine,
        oco(
            9,
            limit(5, 1, "sell", 120, 10, tif="GTD", expire_time=500),
            conditional(6, 1, "stop_market", "sell", stop=80, qty=10, tif="GTD", expire_time=500),
        ),
        "accepted #5\naccepted #6\nlevel ask 120 -> 10",
        """
        ask 130 (10): #2 u3 10
        ask 120 (10): #5 u1 10 exp 500
        bid 100 (10): #1 u2 10
        bid  90 (10): #3 u2 10
        wait #6 u1 stop_market sell 10 stop 80 exp 500
        list 9 u1: #5 + #6
        """,
        now=100,
    )
    step(
        engine,
        Tick(),
        """
        done #5 expired 10
        level ask 120 -> 0
        done #6 expired 10
        """,
        OCO_BOOK,
        now=500,
    )


# --- market statuses ---------------------------------------------------------------------

STATUS_BOOK = """
    ask 110 (10): #1 u2 10
    bid  90 (20): #2 u3 20
"""


def test_cancel_only_refuses_new_orders_and_keeps_cancels_and_reductions() -> None:
    engine = book(STATUS_BOOK, last=100)
    step(engine, SetStatus("cancel_only"), "", STATUS_BOOK)
    for command in [
        limit(5, 1, "buy", 80, 10),
        market(5, 1, "buy", qty=10),
        conditional(5, 1, "stop_market", "buy", stop=120, qty=10),
    ]:
        step(engine, command, "rejected #5 MARKET_CANCEL_ONLY", STATUS_BOOK)
    step(
        engine,
        SELL_OCO,
        "rejected #5 MARKET_CANCEL_ONLY\nrejected #6 MARKET_CANCEL_ONLY",
        STATUS_BOOK,
    )
    step(engine, Amend(2, 3, price=80), "rejected #2 MARKET_CANCEL_ONLY", STATUS_BOOK)
    step(
        engine,
        Amend(2, 3, qty=10),
        "amended #2 price 90 qty 10 remaining 10\nlevel bid 90 -> 10",
        "ask 110 (10): #1 u2 10\nbid 90 (10): #2 u3 10",
    )
    step(engine, Cancel(1, 2), "done #1 cancelled 10\nlevel ask 110 -> 0", "bid 90 (10): #2 u3 10")
    step(engine, SetStatus("trading"), "", "bid 90 (10): #2 u3 10")
    step(
        engine,
        limit(5, 1, "buy", 80, 10),
        "accepted #5\nlevel bid 80 -> 10",
        "bid 90 (10): #2 u3 10\nbid 80 (10): #5 u1 10",
    )


def test_post_only_refuses_whatever_would_take_and_lets_the_rest_rest() -> None:
    engine = book(STATUS_BOOK, last=100, status="post_only")
    for command in [
        limit(5, 1, "buy", 110, 10),  # crosses
        market(5, 1, "buy", qty=10),
        market(5, 1, "sell", qty=10),
    ]:
        step(engine, command, "rejected #5 POST_ONLY_WOULD_TAKE", STATUS_BOOK)
    step(engine, Amend(2, 3, price=110), "rejected #2 POST_ONLY_WOULD_TAKE", STATUS_BOOK)
    ioc = limit(5, 1, "buy", 100, 10, tif="IOC")
    step(engine, ioc, "accepted #5\ndone #5 expired 10", STATUS_BOOK)
    step(
        engine,
        limit(6, 1, "buy", 100, 10),
        "accepted #6\nlevel bid 100 -> 10",
        "ask 110 (10): #1 u2 10\nbid 100 (10): #6 u1 10\nbid 90 (20): #2 u3 20",
    )
    step(
        engine,
        conditional(7, 1, "stop_market", "buy", stop=120, qty=10),
        "accepted #7",
        """
        ask 110 (10): #1 u2 10
        bid 100 (10): #6 u1 10
        bid  90 (20): #2 u3 20
        wait #7 u1 stop_market buy 10 stop 120
        """,
    )


def test_market_orders_are_refused_under_post_only_even_into_an_empty_side() -> None:
    engine = book("bid 90 (20): #2 u3 20", status="post_only")
    refused = "rejected #5 POST_ONLY_WOULD_TAKE"
    step(engine, market(5, 1, "buy", qty=10), refused, "bid 90 (20): #2 u3 20")


def test_expiry_runs_under_every_status() -> None:
    for status in ("halted", "cancel_only", "post_only"):
        engine = book("bid 90 (10): #1 u1 10 exp 500", now=100, status=status)  # type: ignore[arg-type]
        step(engine, Tick(), "done #1 expired 10\nlevel bid 90 -> 0", "", now=500)


def test_halt_and_resume_are_statuses() -> None:
    engine = book(STATUS_BOOK)
    step(engine, Halt(), "", STATUS_BOOK)
    assert engine.status == "halted" and engine.halted
    step(engine, limit(5, 1, "buy", 80, 10), "rejected #5 MARKET_HALTED", STATUS_BOOK)
    step(engine, SetStatus("post_only"), "", STATUS_BOOK)
    assert not engine.halted
