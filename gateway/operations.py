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

from actors.accounts.protocol import (
    AmendOrder,
    Auth,
    BalancesReply,
    CancelOrder,
    CancelOrders,
    CreateKey,
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
    PlaceOrder,
    RevokeKey,
)
from api.wire import BalanceOut, FillOut, OrderOut, balance_out, fill_out, order_out
from bourse.ids import api_key_of, canonical_id, hash_secret, new_secret
from gateway.actors import expect
from gateway.context import Gateway
from gateway.errors import ApiError, invalid
from gateway.schemas import (
    AmendRequest,
    CancelAllQuery,
    FillsQuery,
    KeyCreatedOut,
    KeyOut,
    KeyRequest,
    OrderRequest,
    OrdersQuery,
)


def render(gw: Gateway, order: OrderView) -> OrderOut:
    return order_out(order, gw.config.markets[order.market])


def order_number(order_id: str) -> int:
    """An order id as written on the wire (a string of digits)."""
    if not (order_id.isascii() and order_id.isdigit()) or not 1 <= len(order_id) <= 19:
        raise invalid("order_id", "order_id must be a string of 1-19 digits")
    return int(order_id)


# --- orders ------------------------------------------------------------------------------


async def place_order(gw: Gateway, auth: Auth, data: OrderRequest) -> OrderOut:
    reply = await gw.link.user(auth, place_message(gw, auth, data))
    return render(gw, expect(reply, OrderReply).order)


def place_message(gw: Gateway, auth: Auth, data: OrderRequest) -> PlaceOrder:
    market = gw.market(data.market)
    if data.type == "limit":
        if data.price is None:
            raise invalid("price", "a limit order needs a price")
        if data.qty is None:
            raise invalid("qty", "a limit order needs a qty")
    elif data.qty is None and data.quote_qty is None:
        raise invalid("qty", "a market order needs qty, or quote_qty for a buy")
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
    )


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
    request = AmendOrder(
        auth,
        number,
        qty=0 if data.qty is None else market.parse_qty(data.qty),
        price=0 if data.price is None else market.parse_price(data.price),
    )
    reply = await gw.link.user(auth, request)
    return render(gw, expect(reply, OrderReply).order)


async def cancel_order(gw: Gateway, auth: Auth, order_id: str) -> OrderOut:
    reply = await gw.link.user(auth, CancelOrder(auth, order_number(order_id)))
    return render(gw, expect(reply, OrderReply).order)


async def cancel_all(gw: Gateway, auth: Auth, params: CancelAllQuery) -> list[OrderOut]:
    request = CancelOrders(auth, gw.optional_market(params.market))
    reply = expect(await gw.link.user(auth, request), OrdersReply)
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
