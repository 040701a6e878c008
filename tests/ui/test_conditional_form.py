"""Stop and GTD orders from the trading screen, in a real browser against a real exchange.

This module runs its own exchange: it sets the last trade price, which the other browser
tests must not see move.  Other users trade through the API meanwhile.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_kit import Api, User, exchange, wait_until
from playwright.sync_api import expect
from screen_kit import Screen

from harness.cluster import Cluster


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    with exchange(tmp_path_factory.mktemp("ui-conditional"), feed=True) as (cluster, api):
        wait_until(lambda: api.get("/api/v1/health").status_code == 200, 30.0, "health")
        yield cluster, api


@pytest.fixture(scope="module")
def api(running: tuple[Cluster, Api]) -> Api:
    return running[1]


def placed(api: Api, user: User, **order: str) -> dict[str, Any]:
    answer = api.place(user, **order)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def api_order(api: Api, user: User, order_id: str) -> dict[str, Any]:
    answer = api.get(f"/api/v1/orders/{order_id}", headers=user.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_stop_limit_from_the_form_waits_untriggered_then_fills(screen: Screen, api: Api) -> None:
    maker = api.new_user(BTC="10", USDT="1000000")
    taker = api.new_user(BTC="10", USDT="1000000")
    placed(api, maker, side="sell", price="30000", qty="0.01")
    placed(api, taker, side="buy", price="30000", qty="0.01")  # the last price: 30,000

    screen.open()
    user = screen.sign_up()
    screen.deposit("USDT", "10000")
    screen.by_id("order-side-buy").click()
    screen.by_id("order-type-stop-limit").click()
    expect(screen.by_id("order-stop-price")).to_be_visible()
    expect(screen.by_id("order-post-only")).to_be_hidden()

    # A missing stop price, then one off the tick, are named beside the stop price field.
    screen.by_id("order-price").fill("31500")
    screen.by_id("order-qty").fill("0.1")
    screen.by_id("order-submit").click()
    expect(screen.by_id("error-stop_price")).to_have_text("Enter a stop price")
    screen.allow_http_error("/api/v1/orders", 400)
    screen.by_id("order-stop-price").fill("31000.001")
    screen.by_id("order-submit").click()
    expect(screen.by_id("error-stop_price")).to_have_attribute("data-code", "OFF_TICK")
    expect(screen.by_id("order-stop-price")).to_have_attribute("aria-invalid", "true")

    result = screen.by_id("order-result")
    screen.by_id("order-stop-price").fill("31000")
    screen.by_id("order-qty").fill("0.1")
    screen.by_id("order-submit").click()
    expect(result).to_have_attribute("data-order-id", re.compile(r"^\d+$"))
    expect(result).to_contain_text("when last ≥ 31000.00")
    order_id = result.get_attribute("data-order-id")
    assert order_id is not None
    order = api_order(api, user, order_id)
    assert order["type"] == "stop_limit" and order["triggered"] is False

    row = screen.order_row(order_id)
    expect(row).to_have_attribute("data-triggered", "false")
    expect(row.get_by_test_id("untriggered")).to_be_visible()
    expect(row).to_contain_text("last ≥ 31000.00")
    # Not in the book while it waits.
    expect(screen.book_row("bid", "31500.00")).to_have_count(0)

    # Another user's trade at 31,200 triggers it; it buys the rest of that ask.
    placed(api, maker, side="sell", price="31200", qty="0.2")
    placed(api, taker, side="buy", price="31200", qty="0.01")
    wait_until(lambda: api_order(api, user, order_id)["status"] == "filled", what="it fills")
    expect(row).to_have_count(0)
    screen.by_id("tab-history").click()
    done = screen.by_id("order-history").locator(
        f'[data-testid="history-row"][data-order-id="{order_id}"]'
    )
    expect(done).to_have_attribute("data-status", "filled")
    expect(done).to_have_attribute("data-triggered", "true")
    expect(screen.balance("BTC")).to_have_attribute("data-free", "0.10000000")
    screen.assert_no_js_errors()


def test_a_gtd_order_takes_its_expiry_from_the_date_time_picker(screen: Screen, api: Api) -> None:
    screen.open()
    user = screen.sign_up()
    screen.deposit("USDT", "10000")
    screen.by_id("order-side-buy").click()
    screen.by_id("order-type-limit").click()
    expire = screen.by_id("order-expire-time")
    expect(expire).to_be_hidden()
    screen.by_id("order-tif").select_option("GTD")
    expect(expire).to_be_visible()
    screen.by_id("order-price").fill("20000")
    screen.by_id("order-qty").fill("0.01")

    expire.fill("2001-01-01T00:00")
    screen.by_id("order-submit").click()
    expect(screen.by_id("error-expire_time")).to_have_text("Pick a time in the future")

    tomorrow = time.localtime(time.time() + 86_400)
    expire.fill(time.strftime("%Y-%m-%dT%H:%M", tomorrow))
    screen.by_id("order-submit").click()
    result = screen.by_id("order-result")
    expect(result).to_have_attribute("data-order-id", re.compile(r"^\d+$"))
    order_id = result.get_attribute("data-order-id")
    assert order_id is not None
    order = api_order(api, user, order_id)
    assert order["time_in_force"] == "GTD"
    # The minute picked, in the browser's local time: within a minute of a day from now.
    assert abs(order["expire_time"] - (time.time() + 86_400) * 1000) < 61_000
    row = screen.order_row(order_id)
    expect(row).to_contain_text("GTD")
    screen.by_id(f"cancel-{order_id}").click()
    expect(row).to_have_count(0)
    screen.assert_no_js_errors()
