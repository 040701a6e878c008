"""The trading screen in a real browser against a real exchange.

Each test opens the screen served by the gateway in a fresh Chromium context, acts through
the elements a user sees (``data-testid``), and checks what the screen shows against what
the REST API says.  Other users trade through the API (``gateway_kit.Api``) meanwhile.
Every test ends by checking that the page raised no JavaScript error.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway_kit import Api, User
from playwright.sync_api import expect
from screen_kit import CANDLE_UP_RGB, MARKET, Screen


def api_order(api: Api, user: User, order_id: str) -> dict[str, Any]:
    answer = api.get(f"/api/v1/orders/{order_id}", headers=user.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def placed(api: Api, user: User, **order: str) -> dict[str, Any]:
    answer = api.place(user, **order)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_sign_up_deposit_place_a_limit_buy_and_cancel_it(screen: Screen, api: Api) -> None:
    screen.open()
    user = screen.sign_up()
    screen.deposit("USDT", "5000")
    free, locked = api.balances(user)["USDT"]
    assert Decimal(free) == 5000 and Decimal(locked) == 0
    usdt = screen.balance("USDT")
    expect(usdt).to_have_attribute("data-free", free)
    expect(usdt).to_have_attribute("data-locked", locked)

    order_id = screen.place_limit("buy", "25000", "0.01")
    order = api_order(api, user, order_id)
    assert order["status"] == "new" and order["side"] == "buy", order
    price, qty = str(order["price"]), str(order["qty"])

    row = screen.order_row(order_id)
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-status", "new")
    level = screen.book_row("bid", price)
    expect(level).to_be_visible()
    expect(level).to_have_attribute("data-qty", qty)
    expect(screen.book_row("ask", price)).to_have_count(0)
    held_free, held_locked = api.balances(user)["USDT"]
    assert Decimal(held_locked) > 0
    expect(usdt).to_have_attribute("data-locked", held_locked)
    expect(usdt).to_have_attribute("data-free", held_free)

    screen.by_id(f"cancel-{order_id}").click()
    expect(row).to_have_count(0)
    expect(level).to_have_count(0)
    assert api_order(api, user, order_id)["status"] == "cancelled"
    expect(usdt).to_have_attribute("data-free", free)
    expect(usdt).to_have_attribute("data-locked", locked)
    screen.assert_no_js_errors()


def test_a_crossing_order_shows_the_trade_the_candle_and_new_balances(
    screen: Screen, api: Api, artifacts: Path
) -> None:
    maker = api.new_user(BTC="10", USDT="1000000")
    taker = api.new_user(BTC="10", USDT="1000000")
    screen.open()
    user = screen.sign_up()
    screen.deposit("USDT", "10000")
    btc_before = api.balances(user)["BTC"][0]
    btc = screen.balance("BTC")
    expect(btc).to_have_attribute("data-free", btc_before)

    # some history while the screen is open: 29900 (open), 29850 (low), 29980
    trade_ids: list[str] = []
    for maker_side, price, qty in (
        ("sell", "29900", "0.05"),
        ("buy", "29850", "0.03"),
        ("sell", "29980", "0.02"),
    ):
        placed(api, maker, side=maker_side, price=price, qty=qty)
        taker_side = "buy" if maker_side == "sell" else "sell"
        taken = placed(api, taker, side=taker_side, price=price, qty=qty)
        assert taken["status"] == "filled", taken
        trade_ids.append(str(taken["fills"][0]["trade_id"]))
    # a ladder on both sides around 30000: (side, price, qty) as the API answered them
    ladder: list[tuple[str, str, str]] = []
    for i, qty in enumerate(("0.012", "0.25", "0.08", "0.4", "0.15")):
        for side, price in (("sell", 30050 + 50 * i), ("buy", 29950 - 50 * i)):
            resting = placed(api, maker, side=side, price=str(price), qty=qty)
            ladder.append((side, str(resting["price"]), str(resting["qty"])))

    order_id = screen.place_limit("buy", "30000", "0.01")
    order = api_order(api, user, order_id)
    assert order["status"] == "new", order
    price = str(order["price"])
    expect(screen.book_row("bid", price)).to_be_visible()
    expect(screen.order_row(order_id)).to_be_visible()

    crossing = placed(api, taker, side="sell", price="30000", qty="0.01")
    assert crossing["status"] == "filled", crossing
    [fill] = crossing["fills"]
    trade_id = str(fill["trade_id"])
    assert fill["price"] == price, fill
    assert api_order(api, user, order_id)["status"] == "filled"

    # recent trades: the new trade on top, with the history below it
    trade = screen.trade_row(trade_id)
    expect(trade).to_be_visible()
    expect(trade).to_have_attribute("data-price", price)
    expect(trade).to_have_attribute("data-side", "sell")
    expect(screen.by_id("trades-list").get_by_test_id("trade-row").first).to_have_attribute(
        "data-trade-id", trade_id
    )
    for earlier in trade_ids:
        expect(screen.trade_row(earlier)).to_be_visible()
    # the ticker shows the trade price, the candle chart drew a (rising) candle
    expect(screen.by_id("ticker-last")).to_have_text("30000.00")
    expect(screen.by_id("chart").locator("canvas").first).to_be_attached()
    screen.wait_for_chart_colour("chart", CANDLE_UP_RGB)

    # the browser user's side: BTC credited, the order filled, the fill listed
    btc_after = api.balances(user)["BTC"][0]
    assert Decimal(btc_after) > Decimal(btc_before)
    expect(btc).to_have_attribute("data-free", btc_after)
    expect(screen.order_row(order_id)).to_have_count(0)
    expect(screen.book_row("bid", price)).to_have_count(0)
    screen.by_id("tab-fills").click()
    expect(
        screen.by_id("fills").locator(f'[data-testid="fill-row"][data-trade-id="{trade_id}"]')
    ).to_be_visible()

    # the ladder as the other users left it, every level on its side with its size
    for side, level_price, level_qty in ladder:
        level = screen.book_row("ask" if side == "sell" else "bid", level_price)
        expect(level).to_have_attribute("data-qty", level_qty)

    screen.page.screenshot(path=str(artifacts / "trading-screen.png"), full_page=True)
    screen.assert_no_js_errors()


def test_an_off_tick_price_shows_the_api_message_beside_the_price(screen: Screen, api: Api) -> None:
    screen.open()
    user = screen.sign_up()
    funded = api.post(
        "/api/v1/deposits", json={"asset": "USDT", "amount": "1000"}, headers=user.headers
    )
    assert funded.status_code == 200, funded.text
    # what the API itself says about this price
    refused = api.place(user, side="buy", price="30000.001", qty="0.01")
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "OFF_TICK" and refused.json()["field"] == "price"

    # the screen's own request is answered 400 on purpose; Chromium logs that as
    # "Failed to load resource: ... status of 400", which is not a JavaScript error
    screen.allow_http_error("/api/v1/orders", 400)
    screen.by_id("order-side-buy").click()
    screen.by_id("order-type-limit").click()
    screen.by_id("order-price").fill("30000.001")
    screen.by_id("order-qty").fill("0.01")
    screen.by_id("order-submit").click()

    error = screen.by_id("error-price")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("data-code", "OFF_TICK")
    expect(error).to_have_text(refused.json()["message"])
    expect(screen.by_id("order-price")).to_have_attribute("aria-invalid", "true")
    expect(screen.by_id("error-qty")).to_be_hidden()
    expect(screen.by_id("error-form")).to_be_hidden()
    expect(screen.by_id("open-orders").get_by_test_id("order-row")).to_have_count(0)
    assert api.get("/api/v1/orders", headers=user.headers).json() == []

    # typing a new price clears the message
    screen.by_id("order-price").fill("30000.01")
    expect(error).to_be_hidden()
    expect(screen.by_id("order-price")).not_to_have_attribute("aria-invalid", "true")
    screen.assert_no_js_errors()


def test_the_tradingview_attribution_shows_and_the_feed_connects(screen: Screen) -> None:
    screen.open()
    conn = screen.by_id("conn-status")
    expect(conn).to_have_attribute("data-state", "connected")
    expect(conn).to_contain_text("Live")
    attribution = screen.by_id("tv-attribution")
    expect(attribution).to_be_visible()
    expect(attribution).to_contain_text("TradingView")
    link = attribution.get_by_role("link", name=re.compile("TradingView"))
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", re.compile(r"^https://www\.tradingview\.com/?$"))
    expect(screen.by_id(f"market-{MARKET}")).to_be_visible()
    screen.assert_no_js_errors()


def test_the_chart_drops_its_no_trades_message_once_a_live_candle_arrives(
    screen: Screen, api: Api
) -> None:
    market = "ETH-USDT"  # no other test trades it: the screen opens on an empty chart
    screen.open(market)
    message = screen.by_id("chart-message")
    expect(message).to_have_text("No trades yet")
    assert not screen.chart_has_colour("chart", CANDLE_UP_RGB)

    maker = api.new_user(ETH="1")
    taker = api.new_user(USDT="10000")
    placed(api, maker, market=market, side="sell", price="2000", qty="0.1")
    placed(api, taker, market=market, side="buy", price="2000", qty="0.1")
    screen.wait_for_chart_colour("chart", CANDLE_UP_RGB)
    expect(screen.by_id("ticker-last")).to_have_text("2000.00")
    screen.assert_no_js_errors()
    # the handler that drew the candle clears the message first, so a short deadline is enough
    expect(message).to_have_text("", timeout=1000)


def test_an_order_placed_from_another_client_shows_in_open_orders(screen: Screen, api: Api) -> None:
    market = "ETH-USDT"
    screen.open(market)
    user = screen.sign_up()
    # from here on the screen makes no REST request of its own: what changes on it came
    # through the feed's private pushes
    funded = api.post(
        "/api/v1/deposits", json={"asset": "USDT", "amount": "1000"}, headers=user.headers
    )
    assert funded.status_code == 200, funded.text
    expect(screen.balance("USDT")).to_have_attribute("data-free", funded.json()["free"])
    order = placed(api, user, market=market, side="buy", price="1500", qty="0.1")
    order_id = str(order["order_id"])
    try:
        expect(screen.book_row("bid", str(order["price"]))).to_be_visible()
        # the new locked amount can only have come from the balances push, which the shard
        # publishes right after the order's own event: that one would be applied by now
        locked = api.balances(user)["USDT"][1]
        expect(screen.balance("USDT")).to_have_attribute("data-locked", locked)
        screen.assert_no_js_errors()
        # the order's own push reaches the screen before the balance push that follows it
        expect(screen.order_row(order_id)).to_be_visible(timeout=1000)
    finally:
        cancelled = api.delete(f"/api/v1/orders/{order_id}", headers=user.headers)
        assert cancelled.status_code == 200, cancelled.text
