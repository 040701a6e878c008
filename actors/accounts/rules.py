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
"""

from __future__ import annotations

import re

from actors.accounts.protocol import AmendOrder, ErrorReply, PlaceOrder
from actors.accounts.state import Order
from bourse.market import Market
from bourse.money import MAX_UNITS

_CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_\-.:]{1,64}")


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


def check_order(market: Market, request: PlaceOrder) -> ErrorReply | None:
    """The order's shape and the market's rules."""
    if request.client_order_id is not None and not _CLIENT_ORDER_ID.fullmatch(
        request.client_order_id
    ):
        return _invalid("client_order_id must be 1-64 letters, digits or _-.:", "client_order_id")
    notional: int | None  # None: unknown until it trades
    if request.type == "limit":
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
    if request.post_only and request.time_in_force != "GTC":
        return _invalid("post_only orders are GTC", "time_in_force")
    if notional is not None and notional < market.min_notional:
        least = f"{market.format_quote(market.min_notional)} {market.quote}"
        return ErrorReply(422, "MIN_NOTIONAL", f"the order's value must be at least {least}")
    return None


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
