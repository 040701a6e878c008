"""Reads of one shard: a user's balances, orders and fills; the operator's totals and
status.  Pure functions of the state.

Invariants:
- A read changes nothing, not even the shape of the state (no zero balance is created
  for an asset the user never held): reads are not journaled, so a replay must reach
  the same bytes without them.
- A user reads only their own orders and fills.
- A list holds at most ``MAX_LIST`` items, newest first.
"""

from __future__ import annotations

from actors.accounts.events import balance_view
from actors.accounts.protocol import (
    AccountsReply,
    AssetTotals,
    BalancesReply,
    ErrorReply,
    FillsReply,
    GetOrder,
    GetOrderList,
    ListFills,
    ListOrders,
    OrderListReply,
    OrderReply,
    OrdersReply,
    ShardStatus,
    TotalsReply,
)
from actors.accounts.shard import ShardState
from actors.accounts.state import Balance, User

MAX_LIST = 1000

_NOTHING = Balance()  # read only: what a user holds of an asset never credited


def balances(state: ShardState, user: User) -> AccountsReply:
    held = user.balances
    return BalancesReply(
        [balance_view(asset, held.get(asset) or _NOTHING) for asset in state.assets]
    )


def order(user: User, request: GetOrder) -> AccountsReply:
    order_id = request.order_id
    if order_id is None and request.client_order_id is not None:
        order_id = user.client_ids.get(request.client_order_id)
    found = user.orders.get(order_id) if order_id is not None else None
    if found is None:
        return ErrorReply(404, "ORDER_NOT_FOUND", "no such order")
    return OrderReply(found.view())


def order_list(user: User, request: GetOrderList) -> AccountsReply:
    found = user.lists.get(request.list_id)
    if found is None:
        return ErrorReply(404, "ORDER_NOT_FOUND", "no such order list")
    return OrderListReply(found.view(user.orders))


def orders(user: User, request: ListOrders) -> AccountsReply:
    ids = user.open_orders if request.open_only else user.orders
    limit = max(1, min(request.limit, MAX_LIST))
    views = []
    for order_id in sorted(ids, reverse=True):
        listed = user.orders[order_id]
        if request.market is None or listed.market == request.market:
            views.append(listed.view())
            if len(views) == limit:
                break
    return OrdersReply(views)


def fills(user: User, request: ListFills) -> AccountsReply:
    limit = max(1, min(request.limit, MAX_LIST))
    found = [
        fill
        for fill in reversed(user.fills)
        if request.market is None or fill.market == request.market
    ]
    return FillsReply(found[:limit])


def totals(state: ShardState) -> TotalsReply:
    """Per asset, both sides of the shard's conservation equation."""
    assets = []
    for asset in state.assets:
        free = locked = 0
        for user in state.users.values():
            balance = user.balances.get(asset)
            if balance is not None:
                free += balance.free
                locked += balance.locked
        assets.append(
            AssetTotals(
                asset,
                free,
                locked,
                state.fees[asset],
                state.deposits[asset],
                state.withdrawals[asset],
                state.traded_in[asset],
                state.traded_out[asset],
            )
        )
    return TotalsReply(state.shard, len(state.users), len(state.open_orders), assets)


def status(state: ShardState) -> ShardStatus:
    return ShardStatus(
        state.shard,
        len(state.users),
        len(state.open_orders),
        state.commands,
        {market: link.received for market, link in state.links.items()},
        {market: link.sent for market, link in state.links.items()},
        len(state.pending),
    )
