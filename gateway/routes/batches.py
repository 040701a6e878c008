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
- Handlers only call their operation (gateway/operations.py), which order entry over
  WebSocket calls too (``order.batch``, ``cancel_after``).
"""

from __future__ import annotations

from litestar import post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from actors.accounts.protocol import Auth
from gateway import operations
from gateway.auth import BEARER
from gateway.context import Gateway
from gateway.errors import error_responses
from gateway.schemas import (
    BatchCancelRequest,
    BatchOrdersRequest,
    BatchResultOut,
    CancelAfterOut,
    CancelAfterRequest,
)

TAGS = ["orders"]


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
    return await operations.place_batch(gw, auth, data)


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
    return await operations.cancel_batch(gw, auth, data)


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
    return await operations.cancel_after(gw, auth, data)


ROUTES = [place_batch, cancel_batch, cancel_after]
