"""The order rules a shard checks before any funds move: pure functions of a market's
rules and a request, answering the refusal (or ``None``).

Invariants:
- Every refusal names the rule in its ``code`` and, when one input is at fault, the
  ``field``: 400 for a request that is malformed or off the market's grid, 422 for a
  well-formed order the rules refuse (``MIN_NOTIONAL``, ``AMEND_BELOW_FILLED``).
- What passes is on the market's grid (price a positive multiple of the tick, quantity a
  positive multiple of the lot, both at most ``MAX_UNITS``), so every notional the shard
  computes from it is exact, and the engine, which checks the grid again, accepts it.
- A market sell's value is unknown until it trades (the engine takes what the book
  offers), so the minimum notional is checked on every order but that one.
- A conditional order (``stop_*``, ``take_profit_*``) is checked as the limit or market
  order it becomes (its twin), plus its ``stop_price`` on the tick; it cannot be
  post-only.  Whether its stop would trigger at once only the engine knows (it holds the
  last price): that refusal comes back from it.
- GTD: ``expire_time`` is judged against ``now``, the time the shard stamped on its turn:
  after it, and at most ``MAX_GTD_MS`` (90 days) ahead.  Only GTD takes ``expire_time``,
  and a plain market order, which never waits, cannot be GTD.
- An OCO list is checked as its two legs (:func:`list_legs`), each as an order of its
  own, with the stop leg's limit price named ``stop_limit_price``.
"""

from __future__ import annotations

import re

import msgspec

from actors.accounts.protocol import AmendOrder, ErrorReply, PlaceOrder, PlaceOrderList
from actors.accounts.state import Order
from actors.engine.stops import TWIN
from bourse.market import Market
from bourse.money import MAX_UNITS

_CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_\-.:]{1,64}")
MAX_GTD_MS = 90 * 24 * 3600 * 1000


def _invalid(message: str, field: str) -> ErrorReply:
    return ErrorReply(400, "INVALID_FIELD", message, field)


def check_grid(market: Market, price: int, qty: int) -> ErrorReply | None:
    """A price and quantity on the market's grid and in range."""
    if price <= 0 or price % market.tick:
        return ErrorReply(
            400, "OFF_TICK", f"price must be a multiple of the tick {market.tick_text}", "price"
        )
    if qty <= 0 or qty % market.lot:
        return ErrorReply(
            400, "OFF_LOT", f"qty must be a multiple of the lot {market.lot_text}", "qty"
        )
    if price > MAX_UNITS or qty > MAX_UNITS:
        return ErrorReply(400, "OUT_OF_RANGE", "price or qty is too large")
    return None


def check_order(market: Market, request: PlaceOrder, now: int) -> ErrorReply | None:
    """The order's shape and the market's rules, at the time ``now``."""
    if request.client_order_id is not None and not _CLIENT_ORDER_ID.fullmatch(
        request.client_order_id
    ):
        return _invalid("client_order_id must be 1-64 letters, digits or _-.:", "client_order_id")
    error = _check_stop(market, request) or _check_time_in_force(request, now)
    if error is not None:
        return error
    notional: int | None  # None: unknown until it trades
    if TWIN.get(request.type, request.type) == "limit":
        if request.quote_qty:
            return _invalid("a limit order takes qty, not quote_qty", "quote_qty")
        error = check_grid(market, request.price, request.qty)
        if error is not None:
            return error
        notional = market.notional(request.price, request.qty)
    else:
        if request.post_only:
            return _invalid("post_only needs a limit order", "post_only")
        if request.quote_qty:
            if request.side != "buy":
                return _invalid("only a market buy takes quote_qty", "quote_qty")
            if request.qty or request.price:
                return _invalid("give quote_qty, or qty with a worst price, not both", "qty")
            if request.time_in_force == "FOK":
                return _invalid("a market buy by quote_qty cannot be FOK", "time_in_force")
            if request.quote_qty < 0:
                return ErrorReply(
                    400, "NOT_POSITIVE", "quote_qty must be greater than zero", "quote_qty"
                )
            if request.quote_qty > MAX_UNITS:
                return ErrorReply(400, "OUT_OF_RANGE", "quote_qty is too large", "quote_qty")
            notional = request.quote_qty
        elif request.side == "buy":
            if not request.price:
                return _invalid(
                    "a market buy needs quote_qty, or qty with price as the worst price", "price"
                )
            error = check_grid(market, request.price, request.qty)
            if error is not None:
                return error
            notional = market.notional(request.price, request.qty)
        else:
            if request.price:
                return _invalid("a market sell takes no price", "price")
            error = check_grid(market, market.tick, request.qty)
            if error is not None:
                return error
            notional = None  # the engine takes what the book offers
    if request.post_only and request.time_in_force not in ("GTC", "GTD"):
        return _invalid("post_only orders are GTC or GTD", "time_in_force")
    if notional is not None and notional < market.min_notional:
        least = f"{market.format_quote(market.min_notional)} {market.quote}"
        return ErrorReply(422, "MIN_NOTIONAL", f"the order's value must be at least {least}")
    return None


def _check_stop(market: Market, request: PlaceOrder) -> ErrorReply | None:
    """A conditional order's stop price on the tick; no stop price on any other order."""
    if request.type not in TWIN:
        if request.stop_price:
            return _invalid("only stop and take-profit orders take stop_price", "stop_price")
        return None
    stop = request.stop_price
    if stop <= 0 or stop % market.tick:
        return ErrorReply(
            400,
            "OFF_TICK",
            f"stop_price must be a multiple of the tick {market.tick_text}",
            "stop_price",
        )
    if stop > MAX_UNITS:
        return ErrorReply(400, "OUT_OF_RANGE", "stop_price is too large", "stop_price")
    if request.post_only:
        return _invalid("a stop or take-profit order cannot be post-only", "post_only")
    return None


def _check_time_in_force(request: PlaceOrder, now: int) -> ErrorReply | None:
    if request.time_in_force != "GTD":
        if request.expire_time:
            return _invalid("expire_time needs time_in_force GTD", "expire_time")
        return None
    if request.type == "market":
        return _invalid(
            "a market order never waits: GTD needs a limit or conditional order", "time_in_force"
        )
    return check_expiry(request.expire_time, now)


def check_expiry(expire_time: int, now: int) -> ErrorReply | None:
    """A GTD expiry: after ``now``, and at most ``MAX_GTD_MS`` ahead."""
    if expire_time <= now:
        return _invalid("expire_time must be in the future (ms since the epoch)", "expire_time")
    if expire_time > now + MAX_GTD_MS:
        return _invalid("expire_time must be at most 90 days ahead", "expire_time")
    return None


def list_legs(request: PlaceOrderList) -> tuple[PlaceOrder, PlaceOrder]:
    """An OCO list's limit leg and stop leg, as the orders they are."""
    limit = PlaceOrder(
        request.auth,
        request.market,
        request.side,
        "limit",
        price=request.price,
        qty=request.qty,
        time_in_force=request.time_in_force,
        stp=request.stp,
        expire_time=request.expire_time,
    )
    stop = PlaceOrder(
        request.auth,
        request.market,
        request.side,
        "stop_limit" if request.stop_limit_price else "stop_market",
        price=request.stop_limit_price,
        qty=request.qty,
        time_in_force=request.time_in_force,
        stp=request.stp,
        stop_price=request.stop_price,
        expire_time=request.expire_time,
    )
    return limit, stop


def check_list(market: Market, request: PlaceOrderList, now: int) -> ErrorReply | None:
    """An OCO list's own rules, then each leg's as an order of its own."""
    if request.client_list_id is not None and not _CLIENT_ORDER_ID.fullmatch(
        request.client_list_id
    ):
        return _invalid("client_list_id must be 1-64 letters, digits or _-.:", "client_list_id")
    if request.side == "buy" and not request.stop_limit_price:
        return _invalid(
            "a buy list needs stop_limit_price: its stop leg must name the worst price it pays",
            "stop_limit_price",
        )
    limit, stop = list_legs(request)
    error = check_order(market, limit, now)
    if error is not None:
        return error
    error = check_order(market, stop, now)
    if error is not None and error.field == "price":
        return msgspec.structs.replace(
            error,
            field="stop_limit_price",
            message=error.message.replace("price", "stop_limit_price", 1),
        )
    return error


def check_amend(market: Market, order: Order, request: AmendOrder) -> ErrorReply | None:
    """The new price and total quantity of a resting order (0 keeps the current one)."""
    price = request.price or order.price
    qty = request.qty or order.qty
    error = check_grid(market, price, qty)
    if error is not None:
        return error
    if request.qty and qty <= order.filled_qty:
        return ErrorReply(422, "AMEND_BELOW_FILLED", "qty must be above what already filled", "qty")
    if market.notional(price, qty) < market.min_notional:
        return ErrorReply(
            422,
            "MIN_NOTIONAL",
            f"price x qty must be at least {market.format_quote(market.min_notional)}",
        )
    return None
