"""The trading screen's API keys tab and an order history that pages back to the first
order, in a real browser against real processes."""

from __future__ import annotations

from gateway_kit import Api, auth
from playwright.sync_api import expect
from screen_kit import Screen
from ws_kit import OrderEntry, ok

from harness.cluster import Cluster

MARKET = "BTC-USDT"


def test_a_key_is_created_with_its_scopes_shown_once_listed_and_revoked(
    screen: Screen, api: Api
) -> None:
    screen.open(MARKET)
    user = screen.sign_up()
    screen.by_id("tab-keys").click()
    rows = screen.by_id("key-list").locator('[data-testid="key-row"]')
    expect(rows).to_have_count(1)  # the sign-up key

    screen.by_id("key-label").fill("reporting bot")
    screen.by_id("key-scope-trade").uncheck()  # read stays checked
    screen.by_id("key-ips").fill("10.0.0.0/8, 2001:db8::1")
    screen.by_id("key-create").click()
    secret = screen.by_id("key-secret")
    expect(secret).to_be_visible()
    key = secret.inner_text().strip()
    assert key.startswith(f"{user.user_id}.")
    made = screen.by_id("key-list").locator('[data-testid="key-row"][data-key-id="2"]')
    expect(made).to_contain_text("reporting bot")
    expect(made).to_contain_text("10.0.0.0/8, 2001:db8::1")
    expect(made).to_contain_text("read")
    expect(made).not_to_contain_text("trade")
    screen.by_id("key-secret-dismiss").click()
    expect(secret).to_be_hidden()
    expect(screen.by_id("api-keys")).not_to_contain_text(key)  # shown that once only

    # The key works from the addresses it names only: this browser's is not one.
    refused = api.get("/api/v1/balances", headers=auth(key))
    assert refused.status_code == 403 and refused.json()["code"] == "IP_NOT_ALLOWED"

    screen.by_id("revoke-2").click()
    expect(screen.by_id("revoke-2")).to_have_text("Confirm revoke")
    screen.by_id("revoke-2").click()
    expect(rows).to_have_count(1)
    assert api.get("/api/v1/balances", headers=auth(key)).status_code == 401
    screen.assert_no_js_errors()


def test_the_order_history_pages_back_to_the_first_order(
    screen: Screen, api: Api, running: tuple[Cluster, Api]
) -> None:
    cluster, _ = running
    screen.open(MARKET)
    user = screen.sign_up()
    funded = api.post(
        "/api/v1/deposits", json={"asset": "USDT", "amount": "100000"}, headers=user.headers
    )
    assert funded.status_code == 200, funded.text
    orders = 1100
    ws = OrderEntry(cluster.config.gateway.port)
    ok(ws.auth(user.key))
    body = {"market": MARKET, "side": "buy", "type": "limit", "time_in_force": "IOC"}
    sent = [ws.send("order.place", {**body, "price": "1000", "qty": "0.001"}) for _ in range(orders)]
    placed = [ok(ws.answer(i, timeout_s=60.0), 201)["order_id"] for i in sent]
    ws.close()

    screen.page.reload()
    screen.by_id("tab-history").click()
    rows = screen.by_id("order-history").locator('[data-testid="history-row"]')
    expect(rows).to_have_count(100)
    older = screen.by_id("history-older")
    clicks = 0
    while older.is_visible():  # each click shows more, until the first order
        before = rows.count()
        older.click()
        expect(older).to_be_enabled(timeout=20_000)
        assert rows.count() > before
        clicks += 1
    expect(rows).to_have_count(orders)
    assert clicks >= 2
    shown = rows.evaluate_all("rows => rows.map(row => row.dataset.orderId)")
    assert shown == placed[::-1]
    screen.assert_no_js_errors()
