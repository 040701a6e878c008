"""Orders and fills over REST: place, look up, list, amend, cancel, cancel all, list fills.

Invariants: each handler states its route, its documentation and its errors, and does
nothing but call its operation (gateway/operations.py), which order entry over
WebSocket calls too, so both ways in validate and answer alike.
"""

from __future__ import annotations

from typing import Annotated

from litestar import delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from actors.accounts.protocol import Auth
from api.wire import FillOut, OrderOut
from gateway import operations
from gateway.auth import BEARER
from gateway.context import Gateway
from gateway.errors import error_responses
from gateway.query import query
from gateway.schemas import (
    CLIENT_ORDER_ID_PATTERN,
    ORDER_ID_PATTERN,
    AmendRequest,
    CancelAllQuery,
    CancelQuery,
    FillsQuery,
    OrderRequest,
    OrdersQuery,
)

TAGS = ["orders"]
OrderId = Annotated[str, PathParameter(pattern=ORDER_ID_PATTERN, description="the order's id")]
ClientOrderIdPath = Annotated[str, PathParameter(pattern=CLIENT_ORDER_ID_PATTERN)]


@post(
    "/orders",
    status_code=201,
    summary="Place an order",
    description=(
        "Answered with the order and the fills that happened at once.  An IOC or FOK order "
        "that cannot (fully) fill, or one cut short by self-trade prevention, is answered "
        "201 with status expired; a post-only order that would take is refused with 422.  "
        "A stop or take-profit order (stop_price) waits outside the book with status new "
        'and "triggered": false until the last trade price crosses its stop; one whose '
        "stop would trigger at once is refused with 422 WOULD_TRIGGER_IMMEDIATELY.  A GTD "
        "order (expire_time) ends with status expired at that time."
    ),
    responses=error_responses(400, 401, 409, 408, 413, 422, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def place_order(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], data: JSONBody[OrderRequest]
) -> OrderOut:
    return await operations.place_order(gw, auth, data)


@get(
    "/orders",
    summary="The user's orders: newest first, or oldest first from from_id",
    description=(
        "status=open (the default) lists open orders; status=all every order the user ever "
        "made, with no cap.  Without from_id the list is newest first; with it, orders with "
        "an id >= from_id oldest first, so asking again from the last id + 1 sees each "
        "order once (ids grow with time).  start and end bound created_at (inclusive)."
    ),
    dependencies=query(OrdersQuery),
    responses=error_responses(400, 401, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def list_orders(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], params: NamedDependency[OrdersQuery]
) -> list[OrderOut]:
    return await operations.list_orders(gw, auth, params)


@get(
    "/orders/{order_id:str}",
    summary="One order",
    responses=error_responses(400, 401, 404, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def get_order(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], order_id: OrderId
) -> OrderOut:
    return await operations.get_order(gw, auth, order_id)


@get(
    "/orders/by-client-id/{client_order_id:str}",
    summary="One order, by the client's own id",
    responses=error_responses(400, 401, 404, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def get_order_by_client_id(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], client_order_id: ClientOrderIdPath
) -> OrderOut:
    return await operations.get_order_by_client_id(gw, auth, client_order_id)


@patch(
    "/orders/{order_id:str}",
    summary="Amend a resting order",
    description=(
        "A smaller qty at the same price keeps priority; a new price loses it.  An "
        "untriggered stop or take-profit order, and a leg of an open OCO list, cannot be "
        "amended (422 ORDER_NOT_AMENDABLE)."
    ),
    responses=error_responses(400, 401, 404, 409, 408, 413, 422, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def amend_order(
    gw: NamedDependency[Gateway],
    auth: NamedDependency[Auth],
    order_id: OrderId,
    data: JSONBody[AmendRequest],
) -> OrderOut:
    return await operations.amend_order(gw, auth, order_id, data)


@delete(
    "/orders/{order_id:str}",
    status_code=200,
    summary="Cancel an order",
    dependencies=query(CancelQuery),
    responses=error_responses(400, 401, 404, 408, 422, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def cancel_order(
    gw: NamedDependency[Gateway],
    auth: NamedDependency[Auth],
    order_id: OrderId,
    params: NamedDependency[CancelQuery],
) -> OrderOut:
    return await operations.cancel_order(gw, auth, order_id, params.recv_window_ms)


@delete(
    "/orders",
    status_code=200,
    summary="Cancel every open order, or those of one market",
    dependencies=query(CancelAllQuery),
    responses=error_responses(400, 401, 408, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def cancel_all(
    gw: NamedDependency[Gateway],
    auth: NamedDependency[Auth],
    params: NamedDependency[CancelAllQuery],
) -> list[OrderOut]:
    return await operations.cancel_all(gw, auth, params)


@get(
    "/fills",
    summary="The user's fills: newest first, or oldest first from from_id",
    description=(
        "Every fill the user ever had, with no cap.  Paged like GET /orders, by fill_id "
        "(which grows with time); start and end bound the fill's time (inclusive)."
    ),
    dependencies=query(FillsQuery),
    responses=error_responses(400, 401, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def list_fills(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], params: NamedDependency[FillsQuery]
) -> list[FillOut]:
    return await operations.list_fills(gw, auth, params)


ROUTES = [
    place_order,
    list_orders,
    get_order,
    get_order_by_client_id,
    amend_order,
    cancel_order,
    cancel_all,
    list_fills,
]
