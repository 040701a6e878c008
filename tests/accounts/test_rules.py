"""Every refusal of the order rules, one row each, and the orders they let through.

BTC-USDT of configs/local.toml: tick 0.01 USDT (10,000 units), lot 0.0001 BTC (10,000
units), minimum notional 1 USDT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.accounts.protocol import AmendOrder, Auth, PlaceOrder
from actors.accounts.rules import check_amend, check_order
from actors.accounts.state import Order
from bourse.config import load_config
from bourse.money import MAX_UNITS

MARKET = load_config(Path(__file__).resolve().parents[2] / "configs" / "local.toml").markets[
    "BTC-USDT"
]
AUTH = Auth(1, b"k" * 32)
PRICE = 30_000_000_000  # 30,000 USDT
QTY = 10_000_000  # 0.1 BTC
NOW = 1_700_000_000_000  # the turn's stamped time
TOO_BIG = (MAX_UNITS // 10_000 + 1) * 10_000  # on the grid, above MAX_UNITS


def place(**fields: Any) -> PlaceOrder:
    fields.setdefault("side", "buy")
    fields.setdefault("type", "limit")
    return PlaceOrder(auth=AUTH, market="BTC-USDT", **fields)


# (request, status, code, field)
REFUSED: dict[str, tuple[PlaceOrder, int, str, str | None]] = {
    "client id with a space": (
        place(price=PRICE, qty=QTY, client_order_id="a b"),
        400,
        "INVALID_FIELD",
        "client_order_id",
    ),
    "empty client id": (
        place(price=PRICE, qty=QTY, client_order_id=""),
        400,
        "INVALID_FIELD",
        "client_order_id",
    ),
    "client id of 65 characters": (
        place(price=PRICE, qty=QTY, client_order_id="x" * 65),
        400,
        "INVALID_FIELD",
        "client_order_id",
    ),
    "limit with quote_qty": (
        place(price=PRICE, qty=QTY, quote_qty=1_000_000),
        400,
        "INVALID_FIELD",
        "quote_qty",
    ),
    "limit off the tick": (place(price=PRICE + 1_000, qty=QTY), 400, "OFF_TICK", "price"),
    "limit at price zero": (place(price=0, qty=QTY), 400, "OFF_TICK", "price"),
    "limit at a negative price": (place(price=-10_000, qty=QTY), 400, "OFF_TICK", "price"),
    "limit off the lot": (place(price=PRICE, qty=QTY + 5_000), 400, "OFF_LOT", "qty"),
    "limit of qty zero": (place(price=PRICE, qty=0), 400, "OFF_LOT", "qty"),
    "limit price too large": (place(price=TOO_BIG, qty=QTY), 400, "OUT_OF_RANGE", None),
    "limit qty too large": (place(price=PRICE, qty=TOO_BIG), 400, "OUT_OF_RANGE", None),
    "post-only market order": (
        place(type="market", quote_qty=100_000_000, post_only=True),
        400,
        "INVALID_FIELD",
        "post_only",
    ),
    "market sell by quote_qty": (
        place(side="sell", type="market", quote_qty=100_000_000),
        400,
        "INVALID_FIELD",
        "quote_qty",
    ),
    "quote_qty and qty": (
        place(type="market", quote_qty=100_000_000, qty=QTY),
        400,
        "INVALID_FIELD",
        "qty",
    ),
    "quote_qty and price": (
        place(type="market", quote_qty=100_000_000, price=PRICE),
        400,
        "INVALID_FIELD",
        "qty",
    ),
    "FOK with quote_qty": (
        place(type="market", quote_qty=100_000_000, time_in_force="FOK"),
        400,
        "INVALID_FIELD",
        "time_in_force",
    ),
    "negative quote_qty": (
        place(type="market", quote_qty=-1),
        400,
        "NOT_POSITIVE",
        "quote_qty",
    ),
    "quote_qty too large": (
        place(type="market", quote_qty=MAX_UNITS + 1),
        400,
        "OUT_OF_RANGE",
        "quote_qty",
    ),
    "market buy without a worst price": (
        place(type="market", qty=QTY),
        400,
        "INVALID_FIELD",
        "price",
    ),
    "market buy with a worst price off the tick": (
        place(type="market", price=PRICE + 1, qty=QTY),
        400,
        "OFF_TICK",
        "price",
    ),
    "market buy with a worst price and no qty": (
        place(type="market", price=PRICE),
        400,
        "OFF_LOT",
        "qty",
    ),
    "market sell with a price": (
        place(side="sell", type="market", price=PRICE, qty=QTY),
        400,
        "INVALID_FIELD",
        "price",
    ),
    "market sell off the lot": (
        place(side="sell", type="market", qty=QTY + 1),
        400,
        "OFF_LOT",
        "qty",
    ),
    "market sell qty too large": (
        place(side="sell", type="market", qty=TOO_BIG),
        400,
        "OUT_OF_RANGE",
        None,
    ),
    "post-only that is not GTC": (
        place(price=PRICE, qty=QTY, post_only=True, time_in_force="IOC"),
        400,
        "INVALID_FIELD",
        "time_in_force",
    ),
    "limit worth less than the minimum": (
        place(price=10_000_000, qty=1_000_000),  # 10 USDT x 0.01 BTC = 0.1 USDT
        422,
        "MIN_NOTIONAL",
        None,
    ),
    "market buy by quote_qty under the minimum": (
        place(type="market", quote_qty=999_999),
        422,
        "MIN_NOTIONAL",
        None,
    ),
    "market buy whose worst price x qty is under the minimum": (
        place(type="market", price=10_000_000, qty=1_000_000, time_in_force="IOC"),
        422,
        "MIN_NOTIONAL",
        None,
    ),
}


@pytest.mark.parametrize(("request_", "status", "code", "field"), REFUSED.values(), ids=REFUSED)
def test_an_order_the_rules_refuse_is_named(
    request_: PlaceOrder, status: int, code: str, field: str | None
) -> None:
    error = check_order(MARKET, request_, NOW)
    assert error is not None
    assert (error.status, error.code, error.field) == (status, code, field)
    assert error.message


ACCEPTED: dict[str, PlaceOrder] = {
    "limit GTC": place(price=PRICE, qty=QTY, client_order_id="Az09_-.:"),
    "limit sell IOC": place(side="sell", price=PRICE, qty=QTY, time_in_force="IOC"),
    "post-only limit": place(price=PRICE, qty=QTY, post_only=True),
    "limit worth exactly the minimum": place(price=10_000_000, qty=10_000_000),
    "market buy by quote_qty": place(type="market", quote_qty=1_000_000),
    "market buy with a worst price": place(type="market", price=PRICE, qty=QTY),
    "market FOK buy with a worst price": place(
        type="market", price=PRICE, qty=QTY, time_in_force="FOK"
    ),
    "market sell of one lot (its value is unknown until it trades)": place(
        side="sell", type="market", qty=10_000
    ),
}


@pytest.mark.parametrize("request_", ACCEPTED.values(), ids=ACCEPTED)
def test_an_order_within_the_rules_passes(request_: PlaceOrder) -> None:
    assert check_order(MARKET, request_, NOW) is None


def resting(filled_qty: int = 0) -> Order:
    return Order(
        order_id=1,
        user_id=1,
        client_order_id=None,
        market="BTC-USDT",
        side="buy",
        type="limit",
        price=PRICE,
        qty=QTY,
        quote_qty=0,
        time_in_force="GTC",
        post_only=False,
        stp="expire_taker",
        created_at=0,
        updated_at=0,
        filled_qty=filled_qty,
    )


AMENDS_REFUSED: dict[str, tuple[Order, AmendOrder, int, str, str | None]] = {
    "price off the tick": (
        resting(),
        AmendOrder(AUTH, 1, price=PRICE + 1),
        400,
        "OFF_TICK",
        "price",
    ),
    "qty off the lot": (resting(), AmendOrder(AUTH, 1, qty=QTY + 1), 400, "OFF_LOT", "qty"),
    "negative price": (resting(), AmendOrder(AUTH, 1, price=-10_000), 400, "OFF_TICK", "price"),
    "price too large": (resting(), AmendOrder(AUTH, 1, price=TOO_BIG), 400, "OUT_OF_RANGE", None),
    "qty at what already filled": (
        resting(filled_qty=QTY // 2),
        AmendOrder(AUTH, 1, qty=QTY // 2),
        422,
        "AMEND_BELOW_FILLED",
        "qty",
    ),
    "worth less than the minimum": (
        resting(),
        AmendOrder(AUTH, 1, price=10_000),  # 0.01 USDT x 0.1 BTC
        422,
        "MIN_NOTIONAL",
        None,
    ),
}


@pytest.mark.parametrize(
    ("order", "request_", "status", "code", "field"), AMENDS_REFUSED.values(), ids=AMENDS_REFUSED
)
def test_an_amend_the_rules_refuse_is_named(
    order: Order, request_: AmendOrder, status: int, code: str, field: str | None
) -> None:
    error = check_amend(MARKET, order, request_)
    assert error is not None
    assert (error.status, error.code, error.field) == (status, code, field)


@pytest.mark.parametrize(
    "request_",
    [
        AmendOrder(AUTH, 1, price=PRICE - 10_000),
        AmendOrder(AUTH, 1, qty=QTY * 2),
        AmendOrder(AUTH, 1, qty=QTY // 2 + 10_000, price=PRICE + 10_000),
    ],
    ids=["new price, same qty", "same price, new qty", "both"],
)
def test_an_amend_within_the_rules_passes(request_: AmendOrder) -> None:
    assert check_amend(MARKET, resting(filled_qty=QTY // 2), request_) is None
