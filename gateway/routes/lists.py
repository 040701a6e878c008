"""OCO lists (one cancels the other): place, read and cancel.

Invariants:
- A list's prices and quantity are parsed with its market's rules before it leaves the
  gateway; the shard checks both legs again, each as an order of its own.
- A user reaches only their own lists: another user's is 404 ORDER_NOT_FOUND.
- A list leaves through :func:`api.wire.order_list_out`, its legs as orders.
"""

from __future__ import annotations

from typing import Annotated

from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from actors.accounts.protocol import (
    Auth,
    CancelOrderList,
    GetOrderList,
    OrderListReply,
    PlaceOrderList,
)
from api.wire import OrderListOut, order_list_out
from gateway.actors import expect
from gateway.auth import BEARER
from gateway.context import Gateway
from gateway.deadlines import deadline_for
from gateway.errors import error_responses, invalid
from gateway.schemas import ORDER_ID_PATTERN, OrderListRequest

TAGS = ["order lists"]
ListId = Annotated[str, PathParameter(pattern=ORDER_ID_PATTERN, description="the list's id")]


@post(
    "/order-lists",
    status_code=201,
    summary="Place an OCO list",
    description=(
        "Two orders of one side: a limit order at price and a stop order at stop_price "
        "(stop-limit at stop_limit_price, or stop-market without it: a sell only).  When "
        "either leg fills (even partly) or triggers, the other is cancelled.  Funds are "
        "locked once, for the larger of the two legs' needs.  A list whose stop would "
        "trigger at once is refused with 422 WOULD_TRIGGER_IMMEDIATELY."
    ),
    responses=error_responses(400, 401, 409, 408, 413, 422, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def place_list(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], data: JSONBody[OrderListRequest]
) -> OrderListOut:
    market = gw.market(data.market)
    if data.time_in_force == "GTD" and data.expire_time is None:
        raise invalid("expire_time", "a GTD list needs an expire_time")
    deadline = deadline_for(gw, data.recv_window_ms)
    request = PlaceOrderList(
        auth,
        market.name,
        data.side,
        qty=market.parse_qty(data.qty),
        price=market.parse_price(data.price),
        stop_price=market.parse_price(data.stop_price, "stop_price"),
        stop_limit_price=0
        if data.stop_limit_price is None
        else market.parse_price(data.stop_limit_price, "stop_limit_price"),
        time_in_force=data.time_in_force,
        expire_time=data.expire_time or 0,
        client_list_id=data.client_list_id,
        stp=data.stp,
        deadline=deadline.at_ms,
    )
    reply = expect(await gw.link.user(auth, request, deadline.timeout_s), OrderListReply)
    return order_list_out(reply.order_list, market)


@get(
    "/order-lists/{list_id:str}",
    summary="One OCO list",
    responses=error_responses(400, 401, 404, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def get_list(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], list_id: ListId
) -> OrderListOut:
    reply = expect(await gw.link.user(auth, GetOrderList(auth, int(list_id))), OrderListReply)
    return order_list_out(reply.order_list, gw.market(reply.order_list.market))


@delete(
    "/order-lists/{list_id:str}",
    status_code=200,
    summary="Cancel both legs of an OCO list",
    description="A list that is already done is refused with 422 ORDER_CLOSED.",
    responses=error_responses(400, 401, 404, 422, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def cancel_list(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], list_id: ListId
) -> OrderListOut:
    reply = expect(await gw.link.user(auth, CancelOrderList(auth, int(list_id))), OrderListReply)
    return order_list_out(reply.order_list, gw.market(reply.order_list.market))


ROUTES = [place_list, get_list, cancel_list]
