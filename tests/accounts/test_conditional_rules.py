"""The rules of conditional orders, GTD and OCO lists, one row per refusal, and the
orders they let through.

BTC-USDT of configs/local.toml: tick 0.01 USDT (10,000 units), lot 0.0001 BTC (10,000
units), minimum notional 1 USDT.  ``NOW`` is the turn's stamped time.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_rules import AUTH, MARKET, PRICE, QTY, TOO_BIG, place

from actors.accounts.protocol import PlaceOrder, PlaceOrderList
from actors.accounts.rules import MAX_GTD_MS, check_list, check_order

NOW = 1_700_000_000_000
STOP = PRICE - 100 * 10_000  # 29,900 USDT


def stop(**fields: Any) -> PlaceOrder:
    fields.setdefault("type", "stop_limit")
    fields.setdefault("price", PRICE)
    fields.setdefault("qty", QTY)
    fields.setdefault("stop_price", STOP)
    return place(**fields)


# (request, status, code, field)
REFUSED: dict[str, tuple[PlaceOrder, int, str, str | None]] = {
    "stop-limit without a stop price": (stop(stop_price=0), 400, "OFF_TICK", "stop_price"),
    "stop price off the tick": (stop(stop_price=STOP + 1), 400, "OFF_TICK", "stop_price"),
    "negative stop price": (stop(stop_price=-10_000), 400, "OFF_TICK", "stop_price"),
    "stop price too large": (stop(stop_price=TOO_BIG), 400, "OUT_OF_RANGE", "stop_price"),
    "stop price on a limit order": (
        place(price=PRICE, qty=QTY, stop_price=STOP),
        400,
        "INVALID_FIELD",
        "stop_price",
    ),
    "stop price on a market order": (
        place(type="market", quote_qty=100_000_000, stop_price=STOP),
        400,
        "INVALID_FIELD",
        "stop_price",
    ),
    "post-only stop-limit": (stop(post_only=True), 400, "INVALID_FIELD", "post_only"),
    "stop-limit off the tick (its twin's rule)": (
        stop(price=PRICE + 1),
        400,
        "OFF_TICK",
        "price",
    ),
    "take-profit-limit off the lot": (
        stop(type="take_profit_limit", qty=QTY + 1),
        400,
        "OFF_LOT",
        "qty",
    ),
    "stop-limit with quote_qty": (
        stop(quote_qty=1_000_000),
        400,
        "INVALID_FIELD",
        "quote_qty",
    ),
    "stop-market buy without a worst price": (
        stop(type="stop_market", price=0),
        400,
        "INVALID_FIELD",
        "price",
    ),
    "stop-market sell with a price": (
        stop(type="stop_market", side="sell", price=PRICE),
        400,
        "INVALID_FIELD",
        "price",
    ),
    "take-profit-market sell by quote_qty": (
        stop(type="take_profit_market", side="sell", price=0, qty=0, quote_qty=100_000_000),
        400,
        "INVALID_FIELD",
        "quote_qty",
    ),
    "stop-limit worth less than the minimum": (
        stop(price=10_000_000, qty=1_000_000),
        422,
        "MIN_NOTIONAL",
        None,
    ),
    "stop-market buy by quote_qty under the minimum": (
        stop(type="stop_market", price=0, qty=0, quote_qty=999_999),
        422,
        "MIN_NOTIONAL",
        None,
    ),
    "GTD without expire_time": (
        place(price=PRICE, qty=QTY, time_in_force="GTD"),
        400,
        "INVALID_FIELD",
        "expire_time",
    ),
    "GTD expiring now": (
        place(price=PRICE, qty=QTY, time_in_force="GTD", expire_time=NOW),
        400,
        "INVALID_FIELD",
        "expire_time",
    ),
    "GTD expiring in the past": (
        place(price=PRICE, qty=QTY, time_in_force="GTD", expire_time=NOW - 1),
        400,
        "INVALID_FIELD",
        "expire_time",
    ),
    "GTD more than 90 days ahead": (
        place(price=PRICE, qty=QTY, time_in_force="GTD", expire_time=NOW + MAX_GTD_MS + 1),
        400,
        "INVALID_FIELD",
        "expire_time",
    ),
    "expire_time without GTD": (
        place(price=PRICE, qty=QTY, expire_time=NOW + 60_000),
        400,
        "INVALID_FIELD",
        "expire_time",
    ),
    "GTD market order": (
        place(type="market", quote_qty=100_000_000, time_in_force="GTD", expire_time=NOW + 1),
        400,
        "INVALID_FIELD",
        "time_in_force",
    ),
    "post-only IOC": (
        place(price=PRICE, qty=QTY, post_only=True, time_in_force="IOC"),
        400,
        "INVALID_FIELD",
        "time_in_force",
    ),
}


@pytest.mark.parametrize(("request_", "status", "code", "field"), REFUSED.values(), ids=REFUSED)
def test_a_conditional_or_gtd_order_the_rules_refuse_is_named(
    request_: PlaceOrder, status: int, code: str, field: str | None
) -> None:
    error = check_order(MARKET, request_, NOW)
    assert error is not None
    assert (error.status, error.code, error.field) == (status, code, field)
    assert error.message


ACCEPTED: dict[str, PlaceOrder] = {
    "stop-limit buy": stop(),
    "stop-limit sell IOC": stop(side="sell", time_in_force="IOC"),
    "take-profit-limit sell": stop(type="take_profit_limit", side="sell"),
    "stop-market sell by qty": stop(type="stop_market", side="sell", price=0),
    "stop-market buy with a worst price": stop(type="stop_market"),
    "take-profit-market buy by quote_qty": stop(
        type="take_profit_market", price=0, qty=0, quote_qty=1_000_000
    ),
    "GTD limit expiring in a millisecond": place(
        price=PRICE, qty=QTY, time_in_force="GTD", expire_time=NOW + 1
    ),
    "GTD limit expiring in exactly 90 days": place(
        price=PRICE, qty=QTY, time_in_force="GTD", expire_time=NOW + MAX_GTD_MS
    ),
    "GTD post-only limit": place(
        price=PRICE, qty=QTY, time_in_force="GTD", expire_time=NOW + 1, post_only=True
    ),
    "GTD stop-market sell": stop(
        type="stop_market", side="sell", price=0, time_in_force="GTD", expire_time=NOW + 1000
    ),
}


@pytest.mark.parametrize("request_", ACCEPTED.values(), ids=ACCEPTED)
def test_a_conditional_or_gtd_order_within_the_rules_passes(request_: PlaceOrder) -> None:
    assert check_order(MARKET, request_, NOW) is None


def oco(**fields: Any) -> PlaceOrderList:
    fields.setdefault("side", "sell")
    fields.setdefault("qty", QTY)
    fields.setdefault("price", PRICE + 1_000_000)
    fields.setdefault("stop_price", STOP)
    return PlaceOrderList(auth=AUTH, market="BTC-USDT", **fields)


LISTS_REFUSED: dict[str, tuple[PlaceOrderList, int, str, str | None]] = {
    "limit leg off the tick": (oco(price=PRICE + 1), 400, "OFF_TICK", "price"),
    "qty off the lot": (oco(qty=QTY + 1), 400, "OFF_LOT", "qty"),
    "stop price off the tick": (oco(stop_price=STOP + 1), 400, "OFF_TICK", "stop_price"),
    "stop limit price off the tick": (
        oco(stop_limit_price=STOP + 1),
        400,
        "OFF_TICK",
        "stop_limit_price",
    ),
    "a buy list without a stop limit price": (
        oco(side="buy", price=STOP, stop_price=PRICE),
        400,
        "INVALID_FIELD",
        "stop_limit_price",
    ),
    "client list id with a space": (
        oco(client_list_id="a b"),
        400,
        "INVALID_FIELD",
        "client_list_id",
    ),
    "GTD list without expire_time": (
        oco(time_in_force="GTD"),
        400,
        "INVALID_FIELD",
        "expire_time",
    ),
    "a list worth less than the minimum": (
        oco(price=10_000_000, stop_price=5_000_000, qty=10_000),
        422,
        "MIN_NOTIONAL",
        None,
    ),
}


@pytest.mark.parametrize(
    ("request_", "status", "code", "field"), LISTS_REFUSED.values(), ids=LISTS_REFUSED
)
def test_a_list_the_rules_refuse_is_named(
    request_: PlaceOrderList, status: int, code: str, field: str | None
) -> None:
    error = check_list(MARKET, request_, NOW)
    assert error is not None
    assert (error.status, error.code, error.field) == (status, code, field)


@pytest.mark.parametrize(
    "request_",
    [
        oco(),
        oco(stop_limit_price=STOP - 10_000, client_list_id="list-1"),
        oco(side="buy", price=STOP, stop_price=PRICE, stop_limit_price=PRICE + 10_000),
        oco(time_in_force="GTD", expire_time=NOW + 60_000),
    ],
    ids=["sell, stop-market leg", "sell, stop-limit leg", "buy", "GTD"],
)
def test_a_list_within_the_rules_passes(request_: PlaceOrderList) -> None:
    assert check_list(MARKET, request_, NOW) is None
