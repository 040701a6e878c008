"""What each private call does, in one place for both ways in: REST (``gateway/routes``)
and order entry over WebSocket (``gateway/ws``).

Each operation takes the worker's :class:`Gateway`, the caller's ``Auth`` and the
call's already decoded body or query Struct (``gateway/schemas.py``), and returns the
public shape of API.md or raises :class:`~gateway.errors.ApiError` (an ``AmountError``
for an amount off its grid).

Invariants:
- Prices, quantities and quote amounts are parsed with the market's rules before the
  order leaves the gateway (OFF_TICK, OFF_LOT, NOT_POSITIVE, OUT_OF_RANGE keep their
  code and field); the shard checks them again with the rest of the rules, and decides
  whether the key may make the call (its scopes and addresses).
- A user only ever reaches their own orders: every request carries their ``Auth`` and
  the shard answers 404 ORDER_NOT_FOUND for an order of anyone else.
- Every order and fill leaves through :func:`api.wire.order_out` / ``fill_out`` with
  its own market's formats.
"""

from __future__ import annotations

import re
from typing import TypeAlias

from actors.accounts.protocol import (
    AmendOrder,
    Auth,
    BalancesReply,
    BatchReply,
    CancelAfter,
    CancelBatch,
    CancelOrder,
    CancelOrders,
    CreateKey,
    ErrorReply,
    FillsReply,
    GetBalances,
    GetOrder,
    KeyReply,
    KeysReply,
    KeyView,
    ListFills,
    ListKeys,
    ListOrders,
    OrderReply,
    OrdersReply,
    OrderView,
    PlaceBatch,
    PlaceOrder,
    RevokeKey,
    SwitchReply,
)
from actors.engine.stops import TWIN
from api.wire import BalanceOut, FillOut, OrderOut, balance_out, fill_out, order_out
from bourse.ids import api_key_of, canonical_id, hash_secret, new_secret
from bourse.money import AmountError
from gateway.actors import expect
from gateway.context import Gateway
from gateway.deadlines import Deadline, deadline_for
from gateway.errors import ApiError, ErrorBody, invalid
from gateway.schemas import (
    ORDER_ID_PATTERN,
    AmendRequest,
    BatchCancelRequest,
    BatchOrdersRequest,
    BatchResultOut,
    CancelAfterOut,
    CancelAfterRequest,
    CancelAllQuery,
    FillsQuery,
    KeyCreatedOut,
    KeyOut,
    KeyRequest,
    OrderRequest,
    OrdersQuery,
)

_ORDER_ID = re.compile(ORDER_ID_PATTERN)


def render(gw: Gateway, order: OrderView) -> OrderOut:
    return order_out(order, gw.config.markets[order.market])


def order_number(order_id: str) -> int:
    """An order id as written on the wire (a string of digits)."""
    if not (order_id.isascii() and order_id.isdigit()) or not 1 <= len(order_id) <= 19:
        raise invalid("order_id", "order_id must be a string of 1-19 digits")
    return int(order_id)


# --- orders ------------------------------------------------------------------------------


async def place_order(gw: Gateway, auth: Auth, data: OrderRequest) -> OrderOut:
    deadline = deadline_for(gw, data.recv_window_ms)
    reply = await gw.link.user(auth, place_message(gw, auth, data, deadline), deadline.timeout_s)
    return render(gw, expect(reply, OrderReply).order)


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


async def get_order(gw: Gateway, auth: Auth, order_id: str) -> OrderOut:
    reply = await gw.link.user(auth, GetOrder(auth, order_id=order_number(order_id)))
    return render(gw, expect(reply, OrderReply).order)


async def get_order_by_client_id(gw: Gateway, auth: Auth, client_order_id: str) -> OrderOut:
    reply = await gw.link.user(auth, GetOrder(auth, client_order_id=client_order_id))
    return render(gw, expect(reply, OrderReply).order)


async def list_orders(gw: Gateway, auth: Auth, params: OrdersQuery) -> list[OrderOut]:
    request = ListOrders(
        auth,
        gw.optional_market(params.market),
        open_only=params.status == "open",
        limit=params.limit,
        from_id=params.from_id,
        start=params.start,
        end=params.end,
    )
    reply = expect(await gw.link.user(auth, request), OrdersReply)
    return [render(gw, order) for order in reply.orders]


async def amend_order(gw: Gateway, auth: Auth, order_id: str, data: AmendRequest) -> OrderOut:
    if data.qty is None and data.price is None:
        raise invalid("qty", "give qty, price or both")
    number = order_number(order_id)
    looked_up = GetOrder(auth, order_id=number, scope="trade")  # only to know its market
    current = expect(await gw.link.user(auth, looked_up), OrderReply)
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
    return render(gw, expect(reply, OrderReply).order)


async def cancel_order(
    gw: Gateway, auth: Auth, order_id: str, recv_window_ms: int | None = None
) -> OrderOut:
    deadline = deadline_for(gw, recv_window_ms)
    request = CancelOrder(auth, order_number(order_id), deadline=deadline.at_ms)
    reply = await gw.link.user(auth, request, deadline.timeout_s)
    return render(gw, expect(reply, OrderReply).order)


async def cancel_all(gw: Gateway, auth: Auth, params: CancelAllQuery) -> list[OrderOut]:
    deadline = deadline_for(gw, params.recv_window_ms)
    request = CancelOrders(auth, gw.optional_market(params.market), deadline=deadline.at_ms)
    reply = expect(await gw.link.user(auth, request, deadline.timeout_s), OrdersReply)
    return [render(gw, order) for order in reply.orders]


async def list_fills(gw: Gateway, auth: Auth, params: FillsQuery) -> list[FillOut]:
    request = ListFills(
        auth,
        gw.optional_market(params.market),
        params.limit,
        from_id=params.from_id,
        start=params.start,
        end=params.end,
    )
    reply = expect(await gw.link.user(auth, request), FillsReply)
    markets = gw.config.markets
    return [fill_out(fill, markets[fill.market]) for fill in reply.fills]


# --- batches and the dead man's switch --------------------------------------------------

Slot: TypeAlias = PlaceOrder | BatchResultOut
Item: TypeAlias = int | BatchResultOut


async def place_batch(gw: Gateway, auth: Auth, data: BatchOrdersRequest) -> list[BatchResultOut]:
    """Each order alone: one whose amounts are off its market's grid gets its own 400
    here and is not sent; the others go to the shard as one request."""
    for index, item in enumerate(data.orders):
        try:
            gw.market(item.market)
            check_shape(item)
        except ApiError as error:
            message = f"orders[{index}]: {error.message}"
            raise ApiError(error.status, error.code, message, error.field) from None
    deadline = deadline_for(gw, data.recv_window_ms)
    slots = [_read_order(gw, auth, item, deadline) for item in data.orders]
    orders = [slot for slot in slots if isinstance(slot, PlaceOrder)]
    answers: list[OrderReply | ErrorReply] = []
    if orders:
        batch = PlaceBatch(auth, orders, deadline=deadline.at_ms)
        answers = expect(await gw.link.user(auth, batch, deadline.timeout_s), BatchReply).results
    replies = iter(answers)
    return [
        _result(gw, next(replies), 201) if isinstance(slot, PlaceOrder) else slot for slot in slots
    ]


async def cancel_batch(gw: Gateway, auth: Auth, data: BatchCancelRequest) -> list[BatchResultOut]:
    items: list[Item] = [
        int(order_id) if _ORDER_ID.fullmatch(order_id) else _refused(_bad_id(order_id))
        for order_id in data.order_ids
    ]
    ids = [item for item in items if isinstance(item, int)]
    deadline = deadline_for(gw, data.recv_window_ms)
    answers: list[OrderReply | ErrorReply] = []
    if ids:
        batch = CancelBatch(auth, ids, deadline=deadline.at_ms)
        answers = expect(await gw.link.user(auth, batch, deadline.timeout_s), BatchReply).results
    replies = iter(answers)
    return [_result(gw, next(replies), 200) if isinstance(i, int) else i for i in items]


async def cancel_after(gw: Gateway, auth: Auth, data: CancelAfterRequest) -> CancelAfterOut:
    reply = expect(await gw.link.user(auth, CancelAfter(auth, data.timeout_ms)), SwitchReply)
    return CancelAfterOut(now=reply.now, trigger_time=reply.trigger_time)


def _read_order(gw: Gateway, auth: Auth, item: OrderRequest, deadline: Deadline) -> Slot:
    """One item as the shard's request, or its refusal."""
    try:
        return place_message(gw, auth, item, deadline)
    except ApiError as error:
        return _refused(error)
    except AmountError as error:
        return _refused(ApiError(400, error.code, error.message, error.field))


def _bad_id(order_id: str) -> ApiError:
    return ApiError(400, "INVALID_FIELD", f"{order_id!r} is not an order id", "order_ids")


def _refused(error: ApiError) -> BatchResultOut:
    return BatchResultOut(
        status=error.status, error=ErrorBody(error.code, error.message, error.field)
    )


def _result(gw: Gateway, reply: OrderReply | ErrorReply, ok: int) -> BatchResultOut:
    if isinstance(reply, ErrorReply):
        return BatchResultOut(
            status=reply.status, error=ErrorBody(reply.code, reply.message, reply.field)
        )
    return BatchResultOut(status=ok, order=render(gw, reply.order))


async def balances(gw: Gateway, auth: Auth) -> list[BalanceOut]:
    reply = expect(await gw.link.user(auth, GetBalances(auth)), BalancesReply)
    assets = gw.config.assets
    return [balance_out(b, assets[b.asset]) for b in reply.balances if b.asset in assets]


# --- keys ----------------------------------------------------------------------------------


async def create_key(gw: Gateway, auth: Auth, data: KeyRequest) -> KeyCreatedOut:
    secret = new_secret()
    request = CreateKey(
        auth, hash_secret(secret), data.label, list(data.scopes), list(data.allowed_ips or ())
    )
    key = expect(await gw.link.user(auth, request), KeyReply).key
    return KeyCreatedOut(
        key_id=str(key.key_id),
        api_key=api_key_of(auth.user_id, secret),
        label=key.label,
        scopes=list(key.scopes),
        allowed_ips=list(key.allowed_ips),
        created_at=key.created_at,
    )


async def list_keys(gw: Gateway, auth: Auth) -> list[KeyOut]:
    reply = expect(await gw.link.user(auth, ListKeys(auth)), KeysReply)
    return [key_out(key) for key in reply.keys]


async def revoke_key(gw: Gateway, auth: Auth, key_id: str) -> KeyOut:
    if not canonical_id(key_id) or len(key_id) > 9:
        raise ApiError(404, "KEY_NOT_FOUND", "no such key", "key_id")
    reply = await gw.link.user(auth, RevokeKey(auth, int(key_id)))
    return key_out(expect(reply, KeyReply).key)


def key_out(key: KeyView) -> KeyOut:
    return KeyOut(
        key_id=str(key.key_id),
        label=key.label,
        scopes=list(key.scopes),
        allowed_ips=list(key.allowed_ips),
        created_at=key.created_at,
    )
