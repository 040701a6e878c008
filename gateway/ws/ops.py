"""The operations order entry over WebSocket offers, each its REST twin's operation
(gateway/operations.py) with the twin's body or query as ``params``.

Invariants:
- A body twin's params decode into the very Struct the REST body does (unknown fields
  refused, the same types); a query twin's into its query Struct by the query rules
  (``gateway.query.from_params``).  A path parameter (``order_id``) is one more field.
- Each answer has the REST twin's status (201 for a placed order, 200 otherwise) and
  object.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from actors.accounts.protocol import Auth
from gateway import operations
from gateway.context import Gateway
from gateway.errors import ApiError, invalid, validation_error
from gateway.query import from_params
from gateway.schemas import (
    CLIENT_ORDER_ID_PATTERN,
    ORDER_ID_PATTERN,
    AmendRequest,
    BatchOrdersRequest,
    CancelAfterRequest,
    CancelAllQuery,
    OrderRequest,
    OrdersQuery,
)

OrderIdText = Annotated[str, msgspec.Meta(pattern=ORDER_ID_PATTERN)]


class OrderIdParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    order_id: OrderIdText
    recv_window_ms: int | None = None  # the REST twin's query parameter


class GetOrderParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    order_id: OrderIdText | None = None
    client_order_id: Annotated[str, msgspec.Meta(pattern=CLIENT_ORDER_ID_PATTERN)] | None = None


class AmendParams(AmendRequest, frozen=True, kw_only=True):
    order_id: OrderIdText


class NoParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class SessionParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    cancel_on_disconnect: bool


Run = Callable[[Gateway, Auth, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Op:
    params: type[msgspec.Struct]
    run: Run
    status: int = 200
    query: bool = False  # params follow the query rules (a GET or DELETE twin)

    def decode(self, params: dict[str, Any]) -> Any:
        if self.query:
            return from_params(self.params, params)
        try:
            return msgspec.convert(params, self.params)
        except msgspec.ValidationError as error:
            raise validation_error(error) from None


async def _get(gw: Gateway, auth: Auth, params: GetOrderParams) -> Any:
    if (params.order_id is None) == (params.client_order_id is None):
        raise invalid("order_id", "give order_id or client_order_id")
    if params.order_id is not None:
        return await operations.get_order(gw, auth, params.order_id)
    assert params.client_order_id is not None
    return await operations.get_order_by_client_id(gw, auth, params.client_order_id)


async def _amend(gw: Gateway, auth: Auth, params: AmendParams) -> Any:
    amend = AmendRequest(qty=params.qty, price=params.price, recv_window_ms=params.recv_window_ms)
    return await operations.amend_order(gw, auth, params.order_id, amend)


OPS: dict[str, Op] = {
    "order.place": Op(
        OrderRequest, lambda gw, auth, p: operations.place_order(gw, auth, p), status=201
    ),
    "order.cancel": Op(
        OrderIdParams,
        lambda gw, auth, p: operations.cancel_order(gw, auth, p.order_id, p.recv_window_ms),
    ),
    "order.amend": Op(AmendParams, _amend),
    "order.cancel_all": Op(
        CancelAllQuery, lambda gw, auth, p: operations.cancel_all(gw, auth, p), query=True
    ),
    "order.get": Op(GetOrderParams, _get),
    "orders.list": Op(
        OrdersQuery, lambda gw, auth, p: operations.list_orders(gw, auth, p), query=True
    ),
    "balances.get": Op(NoParams, lambda gw, auth, p: operations.balances(gw, auth)),
    "order.batch": Op(BatchOrdersRequest, lambda gw, auth, p: operations.place_batch(gw, auth, p)),
    "cancel_after": Op(
        CancelAfterRequest, lambda gw, auth, p: operations.cancel_after(gw, auth, p)
    ),
}

AUTH = "auth"
SESSION_SET = "session.set"


def unknown_op(op: str) -> ApiError:
    known = ", ".join(sorted([AUTH, SESSION_SET, *OPS]))
    return invalid("op", f"unknown op {op[:64]!r}: one of {known}")
