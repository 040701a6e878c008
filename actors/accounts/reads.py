"""Reads of one shard: a user's balances, orders and fills; the operator's totals and
status.  Functions of the state and its history store.

Invariants:
- A read changes nothing, not even the shape of the state (no zero balance is created
  for an asset the user never held): reads are not journaled, so a replay must reach
  the same bytes without them.
- A user reads only their own orders and fills, every one ever made: open orders from
  memory, closed ones and fills from the history (actors/accounts/history.py).
- A list holds at most ``MAX_PAGE`` items: from ``from_id`` oldest first, else newest
  first (``history.Page``).
"""

from __future__ import annotations

from actors.accounts.events import balance_view
from actors.accounts.history import Page, merge_page
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
    OrderView,
    ShardStatus,
    TotalsReply,
)
from actors.accounts.shard import ShardState
from actors.accounts.state import Balance, User

_NOTHING = Balance()  # read only: what a user holds of an asset never credited


def balances(state: ShardState, user: User) -> AccountsReply:
    held = user.balances
    return BalancesReply(
        [balance_view(asset, held.get(asset) or _NOTHING) for asset in state.assets]
    )


def order(state: ShardState, user: User, request: GetOrder) -> AccountsReply:
    view = find_view(state, user, request.order_id, request.client_order_id)
    if view is None:
        return ErrorReply(404, "ORDER_NOT_FOUND", "no such order")
    return OrderReply(view)


def find_view(
    state: ShardState, user: User, order_id: int | None, client_order_id: str | None = None
) -> OrderView | None:
    """One of ``user``'s orders, open or closed, by id or client id."""
    if order_id is None and client_order_id is not None:
        order_id = user.client_ids.get(client_order_id)
        if order_id is None:
            return state.history.order_by_client_id(user.user_id, client_order_id)
    if order_id is None:
        return None
    found = state.find_order(user, order_id)
    if found is not None:
        return found.view()
    return state.history.order(user.user_id, order_id)


def order_list(state: ShardState, user: User, request: GetOrderList) -> AccountsReply:
    found = user.lists.get(request.list_id)
    if found is not None:
        return OrderListReply(state.list_view(user, found))
    done = state.history.order_list(user.user_id, request.list_id)
    if done is None:
        return ErrorReply(404, "ORDER_NOT_FOUND", "no such order list")
    return OrderListReply(done)


def orders(state: ShardState, user: User, request: ListOrders) -> AccountsReply:
    page = Page(request.market, request.from_id, request.start, request.end, request.limit)
    ids = sorted(user.open_orders, reverse=page.from_id is None)
    live = []
    for order_id in ids:
        listed = user.orders[order_id]
        if page.takes(order_id, listed.market, listed.created_at):
            live.append(listed.view())
            if len(live) == page.size:
                break
    if request.open_only:
        return OrdersReply(live)
    return OrdersReply(merge_page(state.history.orders(user.user_id, page), live, page))


def fills(state: ShardState, user: User, request: ListFills) -> AccountsReply:
    page = Page(request.market, request.from_id, request.start, request.end, request.limit)
    return FillsReply(state.history.fills(user.user_id, page))


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
