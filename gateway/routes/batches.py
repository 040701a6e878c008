"""Batches and the dead man's switch: many orders placed or cancelled in one call, and
cancel-after.

Invariants:
- A batch is one request to the user's shard (one journal record there), answered 200
  with one entry per item in the items' order: ``{"status": 201|200, "order"}`` or
  ``{"status": 4xx, "error": {"code", "message", "field"?}}``.
- Each item stands alone: an item whose amounts are off its market's grid gets its own
  400 here and is not sent; the others are, and the shard refuses or places each as it
  would alone.
- A refusal of the whole call is only about the call itself: no key, a malformed body
  (not ``{"orders": [1..20 order requests]}`` or ``{"order_ids": [1..100 ids]}``, as the
  OpenAPI document says: an item of an unknown market, or without the fields its type
  and time in force need, is malformed), or a shard
  that is down or silent (503 / 504: the outcome is unknown, query by
  ``client_order_id``).
"""

from __future__ import annotations

import re
from typing import TypeAlias

from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from actors.accounts.protocol import (
    Auth,
    BatchReply,
    CancelAfter,
    CancelBatch,
    ErrorReply,
    OrderReply,
    PlaceBatch,
    PlaceOrder,
    SwitchReply,
)
from api.wire import order_out
from bourse.money import AmountError
from gateway.actors import expect
from gateway.auth import BEARER
from gateway.context import Gateway
from gateway.deadlines import Deadline, deadline_for
from gateway.errors import ApiError, ErrorBody, error_responses
from gateway.routes.orders import check_shape, place_message
from gateway.schemas import (
    ORDER_ID_PATTERN,
    BatchCancelRequest,
    BatchOrdersRequest,
    BatchResultOut,
    CancelAfterOut,
    CancelAfterRequest,
    OrderRequest,
)

TAGS = ["orders"]
_ORDER_ID = re.compile(ORDER_ID_PATTERN)
Slot: TypeAlias = PlaceOrder | BatchResultOut
Item: TypeAlias = int | BatchResultOut


@post(
    "/orders/batch",
    status_code=200,
    summary="Place 1 to 20 orders in one call",
    description=(
        "Answered with one entry per order, in the same order: "
        '{"status": 201, "order"} or {"status": 4xx, "error": {"code", "message", "field"?}}. '
        "Each order stands alone: one refusal does not stop the others."
    ),
    responses=error_responses(400, 401, 408, 413, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def place_batch(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], data: JSONBody[BatchOrdersRequest]
) -> list[BatchResultOut]:
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


@post(
    "/orders/batch-cancel",
    status_code=200,
    summary="Cancel 1 to 100 orders in one call",
    description=(
        'Answered with one entry per order id, in the same order: {"status": 200, "order"} '
        'or {"status": 4xx, "error"}.'
    ),
    responses=error_responses(400, 401, 408, 413, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def cancel_batch(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], data: JSONBody[BatchCancelRequest]
) -> list[BatchResultOut]:
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


@post(
    "/orders/cancel-after",
    status_code=200,
    summary="Arm, re-arm or disarm the dead man's switch",
    description=(
        "timeout_ms of 1,000 to 3,600,000 arms the switch: when trigger_time passes with no "
        "new call, every open order of the user is cancelled in every market, untriggered "
        "stop and take-profit orders included.  0 disarms it (trigger_time null).  The "
        "times are the exchange's own (now is when it took the call)."
    ),
    responses=error_responses(400, 401, 408, 413, 503, 504),
    security=BEARER,
    tags=TAGS,
)
async def cancel_after(
    gw: NamedDependency[Gateway], auth: NamedDependency[Auth], data: JSONBody[CancelAfterRequest]
) -> CancelAfterOut:
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
    order = reply.order
    return BatchResultOut(status=ok, order=order_out(order, gw.config.markets[order.market]))


ROUTES = [place_batch, cancel_batch, cancel_after]
