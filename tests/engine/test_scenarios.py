"""Scenario tables of plain orders: limit, IOC, FOK, post-only, market, cancel, amend,
self-trade prevention, halt.  How to read them: scenario_kit.py."""

from __future__ import annotations

from scenario_kit import book, limit, market, scenario, step

from actors.engine.messages import Amend, Cancel, CancelAll, Halt, Place, Resume

ASKS = """
    ask 120 (10): #3 u2 10
    ask 110 (20): #2 u2 20
    ask 100 (10): #1 u2 10
"""

# --- limit GTC ------------------------------------------------------------------------


def test_limit_rests_on_an_empty_book() -> None:
    scenario(
        "",
        limit(5, 1, "buy", 100, 10),
        """
        accepted #5
        level bid 100 -> 10
        """,
        "bid 100 (10): #5 u1 10",
    )


def test_limit_rests_behind_an_older_order_at_its_price() -> None:
    scenario(
        "bid 100 (10): #1 u2 10",
        limit(5, 1, "buy", 100, 20),
        """
        accepted #5
        level bid 100 -> 30
        """,
        "bid 100 (30): #1 u2 10, #5 u1 20",
    )


def test_limit_crosses_several_levels_at_the_makers_prices() -> None:
    scenario(
        ASKS,
        limit(5, 1, "buy", 120, 20),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        trade 110 x 10 | taker #5 u1 buy | maker #2 u2
        level ask 110 -> 10
        done #5 filled
        """,
        """
        ask 120 (10): #3 u2 10
        ask 110 (10): #2 u2 10/20
        """,
    )


def test_limit_crosses_then_rests_its_remainder() -> None:
    scenario(
        ASKS,
        limit(5, 1, "buy", 100, 30),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        level bid 100 -> 20
        """,
        """
        ask 120 (10): #3 u2 10
        ask 110 (20): #2 u2 20
        bid 100 (20): #5 u1 20/30
        """,
    )


def test_limit_sell_meets_the_highest_bid_first() -> None:
    scenario(
        """
        bid 100 (10): #1 u2 10
        bid  90 (10): #2 u2 10
        """,
        limit(5, 1, "sell", 90, 20),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 sell | maker #1 u2
        done #1 filled
        level bid 100 -> 0
        trade 90 x 10 | taker #5 u1 sell | maker #2 u2
        done #2 filled
        level bid 90 -> 0
        done #5 filled
        """,
        "",
    )


# --- priority -------------------------------------------------------------------------


def test_a_better_price_placed_later_is_matched_first() -> None:
    engine = book()
    step(
        engine,
        limit(1, 2, "sell", 110, 10),
        "accepted #1\nlevel ask 110 -> 10",
        "ask 110 (10): #1 u2 10",
    )
    step(
        engine,
        limit(2, 3, "sell", 100, 10),
        "accepted #2\nlevel ask 100 -> 10",
        """
        ask 110 (10): #1 u2 10
        ask 100 (10): #2 u3 10
        """,
    )
    step(
        engine,
        limit(3, 1, "buy", 110, 10),
        """
        accepted #3
        trade 100 x 10 | taker #3 u1 buy | maker #2 u3
        done #2 filled
        level ask 100 -> 0
        done #3 filled
        """,
        "ask 110 (10): #1 u2 10",
    )


def test_within_a_price_the_oldest_order_is_matched_first() -> None:
    scenario(
        "ask 100 (30): #7 u2 10, #3 u3 20",
        limit(9, 1, "buy", 100, 20),
        """
        accepted #9
        trade 100 x 10 | taker #9 u1 buy | maker #7 u2
        done #7 filled
        trade 100 x 10 | taker #9 u1 buy | maker #3 u3
        level ask 100 -> 10
        done #9 filled
        """,
        "ask 100 (10): #3 u3 10/20",
    )


def test_a_partly_filled_order_is_never_filled_past_its_quantity() -> None:
    engine = book("ask 100 (10): #1 u2 10")
    step(
        engine,
        limit(2, 1, "buy", 100, 60, tif="IOC"),
        """
        accepted #2
        trade 100 x 10 | taker #2 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        done #2 expired 50
        """,
        "",
    )
    engine = book("ask 100 (50): #1 u2 40/100, #2 u3 10")
    step(
        engine,
        limit(3, 1, "buy", 100, 60),
        """
        accepted #3
        trade 100 x 40 | taker #3 u1 buy | maker #1 u2
        done #1 filled
        trade 100 x 10 | taker #3 u1 buy | maker #2 u3
        done #2 filled
        level ask 100 -> 0
        level bid 100 -> 10
        """,
        "bid 100 (10): #3 u1 10/60",
    )


# --- IOC, FOK, post-only --------------------------------------------------------------


def test_ioc_fills_what_it_can_and_expires_the_rest() -> None:
    scenario(
        ASKS,
        limit(5, 1, "buy", 110, 50, tif="IOC"),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        trade 110 x 20 | taker #5 u1 buy | maker #2 u2
        done #2 filled
        level ask 110 -> 0
        done #5 expired 20
        """,
        "ask 120 (10): #3 u2 10",
    )


def test_ioc_that_does_not_cross_expires_whole() -> None:
    scenario(
        ASKS,
        limit(5, 1, "buy", 90, 10, tif="IOC"),
        "accepted #5\ndone #5 expired 10",
        ASKS,
    )


def test_fok_that_cannot_fill_completely_trades_nothing() -> None:
    scenario(
        ASKS,
        limit(5, 1, "buy", 110, 40, tif="FOK"),
        "accepted #5\ndone #5 expired 40",
        ASKS,
    )


def test_fok_that_can_fill_completely_fills_across_levels() -> None:
    scenario(
        ASKS,
        limit(5, 1, "buy", 110, 30, tif="FOK"),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        trade 110 x 20 | taker #5 u1 buy | maker #2 u2
        done #2 filled
        level ask 110 -> 0
        done #5 filled
        """,
        "ask 120 (10): #3 u2 10",
    )


def test_fok_counts_nothing_behind_its_own_order_when_the_taker_would_stop() -> None:
    before = "ask 100 (30): #1 u2 10, #2 u1 10, #3 u2 10"
    scenario(
        before, limit(5, 1, "buy", 100, 20, tif="FOK"), "accepted #5\ndone #5 expired 20", before
    )
    scenario(
        before,
        limit(5, 1, "buy", 100, 20, tif="FOK", stp="expire_maker"),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        done #2 expired 10
        trade 100 x 10 | taker #5 u1 buy | maker #3 u2
        done #3 filled
        level ask 100 -> 0
        done #5 filled
        """,
        "",
    )


def test_post_only_that_would_cross_is_rejected() -> None:
    scenario(
        ASKS,
        limit(5, 1, "buy", 100, 10, post_only=True),
        "rejected #5 POST_ONLY_WOULD_TAKE",
        ASKS,
    )


def test_post_only_that_does_not_cross_rests() -> None:
    scenario(
        ASKS,
        limit(5, 1, "buy", 90, 10, post_only=True),
        "accepted #5\nlevel bid 90 -> 10",
        ASKS + "bid 90 (10): #5 u1 10 post",
    )


# --- market orders --------------------------------------------------------------------


def test_market_sell_by_quantity_sweeps_the_bids() -> None:
    scenario(
        """
        bid 100 (10): #1 u2 10
        bid  90 (20): #2 u2 20
        """,
        market(5, 1, "sell", qty=20),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 sell | maker #1 u2
        done #1 filled
        level bid 100 -> 0
        trade 90 x 10 | taker #5 u1 sell | maker #2 u2
        level bid 90 -> 10
        done #5 filled
        """,
        "bid 90 (10): #2 u2 10/20",
    )


def test_market_sell_larger_than_the_book_expires_the_rest() -> None:
    scenario(
        "bid 100 (10): #1 u2 10",
        market(5, 1, "sell", qty=30),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 sell | maker #1 u2
        done #1 filled
        level bid 100 -> 0
        done #5 expired 20
        """,
        "",
    )


def test_market_buy_by_quote_stops_when_the_budget_cannot_pay_a_lot() -> None:
    # 10 at 100 cost 10; 10 at 110 cost 11; the 4 left cannot pay a lot at 110.
    scenario(
        ASKS,
        market(5, 1, "buy", quote=25),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        trade 110 x 10 | taker #5 u1 buy | maker #2 u2
        level ask 110 -> 10
        done #5 filled
        """,
        """
        ask 120 (10): #3 u2 10
        ask 110 (10): #2 u2 10/20
        """,
    )


def test_market_buy_by_quote_expires_when_the_book_runs_out() -> None:
    scenario(
        "ask 100 (10): #1 u2 10",
        market(5, 1, "buy", quote=50),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        done #5 expired
        """,
        "",
    )


def test_market_buy_by_quote_that_spends_it_all_as_the_book_ends_is_filled() -> None:
    scenario(
        "ask 100 (10): #1 u2 10",
        market(5, 1, "buy", quote=10),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        done #5 filled
        """,
        "",
    )


def test_market_buy_by_quote_too_small_for_one_lot_expires() -> None:
    scenario(ASKS, market(5, 1, "buy", quote=9), "accepted #5\ndone #5 expired", ASKS)


def test_market_buy_by_quantity_stops_at_its_worst_price() -> None:
    scenario(
        ASKS,
        market(5, 1, "buy", qty=40, worst=110),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        trade 110 x 20 | taker #5 u1 buy | maker #2 u2
        done #2 filled
        level ask 110 -> 0
        done #5 expired 10
        """,
        "ask 120 (10): #3 u2 10",
    )


def test_market_buy_by_quantity_without_a_worst_price_takes_any_price() -> None:
    scenario(
        ASKS,
        market(5, 1, "buy", qty=40),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 0
        trade 110 x 20 | taker #5 u1 buy | maker #2 u2
        done #2 filled
        level ask 110 -> 0
        trade 120 x 10 | taker #5 u1 buy | maker #3 u2
        done #3 filled
        level ask 120 -> 0
        done #5 filled
        """,
        "",
    )


# --- cancel ---------------------------------------------------------------------------


def test_cancel_removes_exactly_the_orders_remaining_from_the_level() -> None:
    scenario(
        "ask 100 (40): #1 u2 10, #2 u3 10/30, #3 u2 20",
        Cancel(2, 3),
        """
        done #2 cancelled 10
        level ask 100 -> 30
        """,
        "ask 100 (30): #1 u2 10, #3 u2 20",
    )


def test_cancel_of_the_last_order_removes_the_level() -> None:
    scenario(
        ASKS,
        Cancel(1, 2),
        "done #1 cancelled 10\nlevel ask 100 -> 0",
        """
        ask 120 (10): #3 u2 10
        ask 110 (20): #2 u2 20
        """,
    )


def test_cancel_of_an_unknown_or_foreign_order_is_rejected() -> None:
    scenario(ASKS, Cancel(1, 1), "rejected #1 ORDER_NOT_FOUND", ASKS)
    scenario(ASKS, Cancel(99, 2), "rejected #99 ORDER_NOT_FOUND", ASKS)
    engine = scenario(
        ASKS,
        Cancel(3, 2),
        "done #3 cancelled 10\nlevel ask 120 -> 0",
        ASKS.replace("ask 120 (10): #3 u2 10", ""),
    )
    step(
        engine,
        Cancel(3, 2),
        "rejected #3 ORDER_NOT_FOUND",
        ASKS.replace("ask 120 (10): #3 u2 10", ""),
    )


def test_cancel_all_cancels_the_users_orders_in_order_id_order() -> None:
    scenario(
        """
        ask 110 (20): #7 u1 10, #4 u2 10
        ask 100 (20): #3 u1 10, #2 u3 10
        bid  90 (10): #1 u1 10
        """,
        CancelAll(1),
        """
        done #1 cancelled 10
        level bid 90 -> 0
        done #3 cancelled 10
        level ask 100 -> 10
        done #7 cancelled 10
        level ask 110 -> 10
        """,
        """
        ask 110 (10): #4 u2 10
        ask 100 (10): #2 u3 10
        """,
    )


def test_cancel_all_without_orders_says_nothing() -> None:
    scenario(ASKS, CancelAll(1), "", ASKS)


# --- amend ----------------------------------------------------------------------------

BIDS = "bid 100 (20): #1 u1 10, #2 u2 10"


def test_amend_to_a_smaller_quantity_keeps_priority() -> None:
    engine = scenario(
        BIDS,
        Amend(1, 1, qty=10),
        "amended #1 price 100 qty 10 remaining 10",
        BIDS,
    )
    engine = scenario(
        "bid 100 (50): #1 u1 30, #2 u2 20",
        Amend(1, 1, qty=10),
        """
        amended #1 price 100 qty 10 remaining 10
        level bid 100 -> 30
        """,
        "bid 100 (30): #1 u1 10, #2 u2 20",
    )
    step(
        engine,
        market(3, 3, "sell", qty=10),
        """
        accepted #3
        trade 100 x 10 | taker #3 u3 sell | maker #1 u1
        done #1 filled
        level bid 100 -> 20
        done #3 filled
        """,
        "bid 100 (20): #2 u2 20",
    )


def test_amend_of_a_partly_filled_order_counts_what_it_traded() -> None:
    before = "bid 100 (50): #1 u1 40/100, #2 u2 10"
    scenario(
        before,
        Amend(1, 1, qty=80),
        """
        amended #1 price 100 qty 80 remaining 20
        level bid 100 -> 30
        """,
        "bid 100 (30): #1 u1 20/80, #2 u2 10",
    )
    scenario(before, Amend(1, 1, qty=60), "rejected #1 AMEND_BELOW_FILLED", before)
    scenario(before, Amend(1, 1, qty=50), "rejected #1 AMEND_BELOW_FILLED", before)


def test_amend_to_a_new_price_loses_priority() -> None:
    engine = scenario(
        BIDS,
        Amend(1, 1, price=90),
        """
        amended #1 price 90 qty 10 remaining 10
        level bid 100 -> 10
        level bid 90 -> 10
        """,
        """
        bid 100 (10): #2 u2 10
        bid  90 (10): #1 u1 10
        """,
    )
    step(
        engine,
        Amend(1, 1, price=100),
        """
        amended #1 price 100 qty 10 remaining 10
        level bid 90 -> 0
        level bid 100 -> 20
        """,
        "bid 100 (20): #2 u2 10, #1 u1 10",
    )


def test_amend_to_a_larger_quantity_loses_priority() -> None:
    scenario(
        BIDS,
        Amend(1, 1, qty=20),
        """
        amended #1 price 100 qty 20 remaining 20
        level bid 100 -> 10
        level bid 100 -> 30
        """,
        "bid 100 (30): #2 u2 10, #1 u1 20",
    )


def test_amend_to_a_crossing_price_trades_like_a_new_taker() -> None:
    scenario(
        """
        ask 110 (10): #2 u2 10
        bid 100 (20): #1 u1 20
        """,
        Amend(1, 1, price=110),
        """
        amended #1 price 110 qty 20 remaining 20
        level bid 100 -> 0
        trade 110 x 10 | taker #1 u1 buy | maker #2 u2
        done #2 filled
        level ask 110 -> 0
        level bid 110 -> 10
        """,
        "bid 110 (10): #1 u1 10/20",
    )


def test_post_only_amend_that_would_cross_is_rejected_and_changes_nothing() -> None:
    before = """
        ask 110 (10): #2 u2 10
        bid 100 (20): #1 u1 20 post
    """
    scenario(before, Amend(1, 1, price=110, qty=10), "rejected #1 POST_ONLY_WOULD_TAKE", before)


def test_amend_rejections() -> None:
    scenario(BIDS, Amend(2, 1, qty=10), "rejected #2 ORDER_NOT_FOUND", BIDS)
    scenario(BIDS, Amend(9, 1, qty=10), "rejected #9 ORDER_NOT_FOUND", BIDS)
    scenario(BIDS, Amend(1, 1, qty=15), "rejected #1 INVALID_ORDER", BIDS)
    scenario(BIDS, Amend(1, 1, price=95), "rejected #1 INVALID_ORDER", BIDS)
    scenario(BIDS, Amend(1, 1, qty=-10), "rejected #1 INVALID_ORDER", BIDS)


# --- self-trade prevention ------------------------------------------------------------

STP_BOOK = """
    ask 110 (10): #3 u2 10
    ask 100 (20): #1 u2 10, #2 u1 10
"""


def test_stp_expire_taker_stops_the_taker_at_its_own_order() -> None:
    scenario(
        STP_BOOK,
        limit(5, 1, "buy", 110, 30, stp="expire_taker"),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        level ask 100 -> 10
        done #5 expired 20
        """,
        """
        ask 110 (10): #3 u2 10
        ask 100 (10): #2 u1 10
        """,
    )


def test_stp_expire_maker_expires_own_orders_and_keeps_matching() -> None:
    scenario(
        STP_BOOK,
        limit(5, 1, "buy", 110, 30, stp="expire_maker"),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        done #2 expired 10
        level ask 100 -> 0
        trade 110 x 10 | taker #5 u1 buy | maker #3 u2
        done #3 filled
        level ask 110 -> 0
        level bid 110 -> 10
        """,
        "bid 110 (10): #5 u1 10/30",
    )


def test_stp_expire_both_expires_the_own_maker_and_stops_the_taker() -> None:
    scenario(
        STP_BOOK,
        limit(5, 1, "buy", 110, 30, stp="expire_both"),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 buy | maker #1 u2
        done #1 filled
        done #2 expired 10
        level ask 100 -> 0
        done #5 expired 20
        """,
        "ask 110 (10): #3 u2 10",
    )


def test_stp_at_the_front_of_the_book_changes_no_level() -> None:
    before = "ask 100 (20): #2 u1 10, #1 u2 10"
    scenario(before, market(5, 1, "buy", qty=10), "accepted #5\ndone #5 expired 10", before)


# --- halt -----------------------------------------------------------------------------


def test_halt_rejects_new_orders_but_cancels_still_work() -> None:
    engine = book(BIDS)
    step(engine, Halt(), "", BIDS)
    step(engine, limit(5, 1, "sell", 100, 10), "rejected #5 MARKET_HALTED", BIDS)
    step(engine, market(6, 1, "sell", qty=10), "rejected #6 MARKET_HALTED", BIDS)
    step(engine, Amend(2, 2, price=110), "rejected #2 MARKET_HALTED", BIDS)
    step(
        engine,
        Amend(2, 2, qty=10),
        "amended #2 price 100 qty 10 remaining 10",
        BIDS,
    )
    step(
        engine,
        Cancel(1, 1),
        "done #1 cancelled 10\nlevel bid 100 -> 10",
        "bid 100 (10): #2 u2 10",
    )
    step(engine, Resume(), "", "bid 100 (10): #2 u2 10")
    step(
        engine,
        limit(5, 1, "sell", 100, 10),
        """
        accepted #5
        trade 100 x 10 | taker #5 u1 sell | maker #2 u2
        done #2 filled
        level bid 100 -> 0
        done #5 filled
        """,
        "",
    )


# --- invalid commands -----------------------------------------------------------------


def test_invalid_places_are_rejected_and_change_nothing() -> None:
    invalid = [
        limit(5, 1, "buy", 105, 10),  # off tick
        limit(5, 1, "buy", 100, 15),  # off lot
        limit(5, 1, "buy", 100, 0),  # zero quantity
        limit(5, 1, "buy", 100, -10),  # negative quantity
        limit(5, 1, "buy", 0, 10),  # no price
        limit(5, 1, "buy", 100, 10, tif="IOC", post_only=True),
        market(5, 1, "buy", quote=100, qty=10),  # both kinds of size
        market(5, 1, "buy", quote=-5),
        market(5, 1, "sell", quote=100),  # only a buy is sized in quote
        market(5, 1, "buy", qty=10, worst=105),
        Place(5, 1, "buy", "market", 0, 0, quote_qty=100, time_in_force="FOK"),
        Place(5, 1, "buy", "market", 0, 10, post_only=True),
    ]
    for command in invalid:
        engine = book(ASKS)
        step(engine, command, "rejected #5 INVALID_ORDER", ASKS)


def test_a_live_order_id_cannot_be_placed_again() -> None:
    scenario(ASKS, limit(2, 1, "buy", 90, 10), "rejected #2 DUPLICATE_ORDER_ID", ASKS)
