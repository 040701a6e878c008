"""Orders and fills: place, look up, list, amend, cancel, cancel all, list fills.

Invariants:
- Prices, quantities and quote amounts are parsed with the market's rules before the
  order leaves the gateway (OFF_TICK, OFF_LOT, NOT_POSITIVE, OUT_OF_RANGE keep their
  code and field); the shard checks them again with the rest of the rules.
- A user only ever reaches their own orders: every request carries their ``Auth`` and
  the shard answers 404 ORDER_NOT_FOUND for an order of anyone else.
- Every order and fill leaves through :func:`api.wire.order_out` / ``fill_out`` with
  its own market's formats.
"""

from __future__ import annotations

from typing import Annotated

from litestar import delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from actors.accounts.protocol import (
    AmendOrder,
    Auth,
    CancelOrder,
    CancelOrders,
    FillsReply,
    GetOrder,
    ListFills,
    ListOrders,
    OrderReply,
    OrdersReply,
    OrderView,
    PlaceOrder,
)
from actors.engine.stops import TWIN
from api.wire import FillOut, OrderOut, fill_out, order_out
from gateway.actors import expect
from gateway.auth import BEARER
from gateway.context import Gateway
from gateway.deadlines import Deadline, deadline_for
from gateway.errors import error_responses, invalid
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


def _render(gw: Gateway, order: OrderView) -> OrderOut:
    return order_out(order, gw.config.markets[order.market])


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
    deadline = deadline_for(gw, data.recv_window_ms)
    reply = await gw.link.user(auth, place_message(gw, auth, data, deadline), deadline.timeout_s)
    return _render(gw, expect(reply, OrderReply).order)


def place_message(gw: Gateway, auth: Auth, data: OrderRequest, deadline: Deadline) -> PlaceOrder:
    """The shard's request for ``data``, its amounts parsed with the market's rules
    (raises ApiError or AmountError naming the field)."""
    market = gw.market(data.market)
    check_shape(data)
    return PlaceOrder(
        auth=auth,
        market=market.name,
        side=data.side,
        type=data.type,
        price=0 if data.price is None else market.parse_price(data.price),
        qty=0 if data.qty is None else market.parse_qty(data.qty),
        quote_qty=0 if data.quote_qty is None else market.parse_quote(data.quote_qty),
        time_in_force=data.time_in_force,
        post_only=data.post_only,
        client_order_id=data.client_order_id,
        stp=data.stp,
        stop_price=0
        if data.stop_price is None
        else market.parse_price(data.stop_price, "stop_price"),
        expire_time=data.expire_time or 0,
        deadline=deadline.at_ms,
    )


def check_shape(data: OrderRequest) -> None:
    """What the OpenAPI document says an order request gives (gateway/openapi.py's
    ORDER_SHAPE): the amounts its type needs, a stop price exactly when it is a stop or
    take-profit order, an expiry exactly when it is GTD."""
    if TWIN.get(data.type, data.type) == "limit":
        if data.price is None:
            raise invalid("price", f"a {data.type} order needs a price")
        if data.qty is None:
            raise invalid("qty", f"a {data.type} order needs a qty")
    elif data.qty is None and data.quote_qty is None:
        raise invalid("qty", f"a {data.type} order needs qty, or quote_qty for a buy")
    if (data.type in TWIN) != (data.stop_price is not None):
        raise invalid("stop_price", "stop and take-profit orders, and only they, take stop_price")
    if (data.time_in_force == "GTD") != (data.expire_time is not None):
        raise invalid("expire_time", "GTD orders, and only they, take expire_time")


@get(
    "/orders",
    summary="The user's orders, newest first",
    dependencies=query(OrdersQuery),
    responses=error_responses(400, 401, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def list_orders(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], params: NamedDependency[OrdersQuery]
) -> list[OrderOut]:
    market = gw.optional_market(params.market)
    request = ListOrders(auth, market, open_only=params.status == "open", limit=params.limit)
    reply = expect(await gw.link.user(auth, request), OrdersReply)
    return [_render(gw, order) for order in reply.orders]


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
    reply = await gw.link.user(auth, GetOrder(auth, order_id=int(order_id)))
    return _render(gw, expect(reply, OrderReply).order)


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
    reply = await gw.link.user(auth, GetOrder(auth, client_order_id=client_order_id))
    return _render(gw, expect(reply, OrderReply).order)


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
    if data.qty is None and data.price is None:
        raise invalid("qty", "give qty, price or both")
    number = int(order_id)
    current = expect(await gw.link.user(auth, GetOrder(auth, order_id=number)), OrderReply)
    market = gw.market(current.order.market)
    deadline = deadline_for(gw, data.recv_window_ms)
    request = AmendOrder(
        auth,
        number,
        qty=0 if data.qty is None else market.parse_qty(data.qty),
        price=0 if data.price is None else market.parse_price(data.price),
        deadline=deadline.at_ms,
    )
    reply = await gw.link.user(auth, request, deadline.timeout_s)
    return _render(gw, expect(reply, OrderReply).order)


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
    deadline = deadline_for(gw, params.recv_window_ms)
    request = CancelOrder(auth, int(order_id), deadline=deadline.at_ms)
    reply = await gw.link.user(auth, request, deadline.timeout_s)
    return _render(gw, expect(reply, OrderReply).order)


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
    deadline = deadline_for(gw, params.recv_window_ms)
    request = CancelOrders(auth, gw.optional_market(params.market), deadline=deadline.at_ms)
    reply = expect(await gw.link.user(auth, request, deadline.timeout_s), OrdersReply)
    return [_render(gw, order) for order in reply.orders]


@get(
    "/fills",
    summary="The user's fills, newest first",
    dependencies=query(FillsQuery),
    responses=error_responses(400, 401, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def list_fills(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], params: NamedDependency[FillsQuery]
) -> list[FillOut]:
    request = ListFills(auth, gw.optional_market(params.market), params.limit)
    reply = expect(await gw.link.user(auth, request), FillsReply)
    markets = gw.config.markets
    return [fill_out(fill, markets[fill.market]) for fill in reply.fills]


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
