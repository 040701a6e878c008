"""Order entry over WebSocket: the ASGI app of ``/api/v1/ws`` and one connection's life.

A connection authenticates once (``auth``), then sends operations that are answered in
any order, each by its ``id`` (API.md "Order entry over WebSocket").

Invariants:
- Every message is answered, exactly once, unless the connection closed first: a
  message that is not JSON, has no ``id`` or names an unknown ``op`` with 400
  INVALID_FIELD (``id`` null when none could be read); the connection stays open.
- Each message takes a token from the same buckets as a REST call
  (``gateway.ratelimit.Budgets``): before ``auth`` the client address's, after it the
  user's.  Without one it is answered 429 RATE_LIMITED; after ``ws_max_refusals``
  429s in a row the connection is closed with 1008.  ``auth`` follows the REST rules
  for failed authentications (slowed, then the address blocked).
- Operations run as REST calls do (gateway/operations.py, gateway/ws/ops.py), with the
  key's ``Auth`` and the client's address, so the shard applies the same validation,
  scopes and allowed addresses on each of them.  At most ``ws_max_in_flight`` run at
  once; past that the connection is not read until one ends, so a client that pipelines
  more waits in its own socket buffer.
- A 401 after ``auth`` means the key stopped working (revoked): it is answered, and the
  connection closed with 1008; nothing more is sent to a shard for it.
- With ``session.set {"cancel_on_disconnect": true}``, the end of the connection (close,
  drop, or 1008) cancels every order placed through it that may still be open: the
  orders it placed, less those its answers showed closed, are tracked (and checked
  against the user's open orders whenever their number doubles, so memory follows the
  open orders); the cancels go out once the requests in flight have ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

import msgspec
from litestar.types import (
    Receive,
    Scope,
    Send,
    WebSocketAcceptEvent,
    WebSocketCloseEvent,
    WebSocketSendEvent,
)

from actors.accounts.protocol import Auth, Authenticate, Authenticated, ListOrders, OrdersReply
from api.wire import OrderOut
from bourse.config import Config
from bourse.ids import split_api_key
from bourse.money import AmountError
from gateway import httpmetrics, operations, requestid
from gateway.actors import expect
from gateway.clientaddr import packed
from gateway.context import Gateway
from gateway.errors import ApiError, invalid, unauthenticated, validation_error
from gateway.ratelimit import Budgets
from gateway.schemas import BatchResultOut
from gateway.ws import messages
from gateway.ws.messages import Message, Refusal, RequestId
from gateway.ws.ops import AUTH, OPS, SESSION_SET, Op, SessionParams, unknown_op

log = logging.getLogger("gateway")

OPEN = frozenset(("new", "partially_filled"))
PLACING = frozenset(("order.place", "order.batch"))  # ops whose answers are orders placed
PRUNE_FLOOR = 1024  # tracked orders before they are first checked against the open ones
CANCEL_BATCH = 256  # cancels on disconnect sent at once
_LIMITED = ApiError(429, "RATE_LIMITED", "too many requests: slow down")
_BLOCKED = ApiError(429, "RATE_LIMITED", "too many failed authentications from this address")
_UNKNOWN = "<unknown>"  # the metrics' op for a message whose op is not one


class OrderEntry:
    """The ASGI app of the order entry path: one :class:`Connection` per WebSocket."""

    def __init__(self, gateway: Gateway, budgets: Budgets, config: Config) -> None:
        self.gateway = gateway
        self.budgets = budgets
        settings = config.raw.gateway
        self.max_in_flight = settings.ws_max_in_flight
        self.max_refusals = settings.ws_max_refusals
        self.max_depth = settings.max_json_depth
        self.wait_s = config.exchange.request_timeout_ms / 1000 + 1.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await Connection(self, scope, send).run(receive)


class Connection:
    def __init__(self, entry: OrderEntry, scope: Scope, send: Send) -> None:
        self.entry = entry
        self.gw = entry.gateway
        self.budgets = entry.budgets
        self._send = send
        self.address = entry.budgets.clients.of(scope)
        self.auth: Auth | None = None
        self.cancel_on_disconnect = False
        self.placed: set[int] = set()
        self.prune_at = PRUNE_FLOOR
        self.refusals = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(entry.max_in_flight)
        self.close_with: tuple[int, str] | None = None
        self.key_dead = False  # a shard said the key no longer works
        self.open = True
        self.reading = True

    # --- the connection ----------------------------------------------------------------------

    async def run(self, receive: Receive) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        accept: WebSocketAcceptEvent = {
            "type": "websocket.accept",
            "subprotocol": None,
            "headers": [],
        }
        await self._send(accept)
        try:
            while self.close_with is None:
                await self.slots.acquire()
                event = await receive()
                if event["type"] != "websocket.receive":
                    self.slots.release()
                    break
                text = event.get("text")
                self.handle(text if text is not None else event.get("bytes") or b"")
        finally:
            # Every message read is answered (in time) before the close frame, if any.
            self.reading = False
            if self.tasks:
                await asyncio.wait(list(self.tasks), timeout=self.entry.wait_s)
            await self._close()
            await self._end()

    def handle(self, data: str | bytes) -> None:
        """Answer one message, at once or from a task; its slot is given back after."""
        parsed = messages.parse(data, self.entry.max_depth)
        request_id = parsed.id
        op = parsed.op if isinstance(parsed, Message) else _UNKNOWN
        if not self._take_token(request_id, op if op in OPS else _UNKNOWN):
            return
        if isinstance(parsed, Refusal):
            self._answer_now(request_id, _UNKNOWN, parsed.error)
        elif op not in OPS and op not in (AUTH, SESSION_SET):
            self._answer_now(request_id, _UNKNOWN, unknown_op(op))
        elif op == AUTH:
            self._start(self._authenticate(parsed))
        elif self.auth is None:
            self._answer_now(request_id, op, unauthenticated('send {"op": "auth"} first'))
        elif op == SESSION_SET:
            self._answer_now(request_id, op, self._session_set(parsed))
        else:
            self._start(self._operate(parsed, OPS[op], self.auth))

    def _take_token(self, request_id: RequestId | None, op: str) -> bool:
        budgets = self.budgets
        if self.auth is None:
            buckets, key = budgets.addresses, self.address
        else:
            buckets, key = budgets.users, str(self.auth.user_id)
        if buckets.take(key) <= 0.0:
            self.refusals = 0
            return True
        self.refusals += 1
        httpmetrics.refused(f"ws_{buckets.name}")
        self._answer_now(request_id, op, _LIMITED)
        if self.refusals > self.entry.max_refusals:
            self.close_with = (1008, "rate limit ignored")
        return False

    def _answer_now(
        self, request_id: RequestId | None, op: str, outcome: ApiError | tuple[int, Any]
    ) -> None:
        self._start(self._deliver(request_id, op, outcome, time.perf_counter()))

    def _start(self, work: Coroutine[Any, Any, None], holds_slot: bool = True) -> None:
        """Run ``work`` beside the reading; a message's work gives its slot back."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._ended if holds_slot else self.tasks.discard)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.slots.release()

    # --- operations ----------------------------------------------------------------------------

    async def _operate(self, message: Message, op: Op, auth: Auth) -> None:
        started = time.perf_counter()
        requestid.current.set(requestid.made_id())
        outcome: ApiError | tuple[int, Any]
        try:
            result = await op.run(self.gw, auth, op.decode(message.params))
            outcome = (op.status, result)
            self._track(message.op, result)
        except ApiError as error:
            outcome = error
            if error.status == 401:
                self.key_dead = True
                self.close_with = (1008, "the API key no longer works")
        except AmountError as error:
            outcome = ApiError(400, error.code, error.message, error.field)
        except Exception:
            log.exception("order entry operation failed", extra={"fields": {"op": message.op}})
            outcome = ApiError(500, "INTERNAL", "internal error")
        await self._deliver(message.id, message.op, outcome, started)
        if self.key_dead and self.reading:
            await self._close()  # stop at once: the read loop waits for the next message

    async def _authenticate(self, message: Message) -> None:
        started = time.perf_counter()
        outcome: ApiError | tuple[int, Any]
        failures = self.budgets.failures
        if self.auth is not None:
            outcome = invalid("op", "this connection is authenticated already")
        elif failures.blocked(self.address) > 0.0:
            httpmetrics.refused("auth_blocked")
            outcome = _BLOCKED
        else:
            outcome = await self._check_key(message.api_key)
            if isinstance(outcome, ApiError) and outcome.status == 401:
                httpmetrics.refused("auth_failed")
                delay = failures.fail(self.address)
                if delay > 0.0:
                    await asyncio.sleep(delay)
        await self._deliver(message.id, AUTH, outcome, started)

    async def _check_key(self, api_key: str | None) -> ApiError | tuple[int, Any]:
        parts = split_api_key(api_key) if api_key is not None else None
        if parts is None or self.gw.config.shard_of_user(parts[0]) is None:
            return unauthenticated("auth needs api_key: <user_id>.<secret>")
        auth = Auth(parts[0], parts[1], address=packed(self.address))
        requestid.current.set(requestid.made_id())
        try:
            reply = expect(await self.gw.link.user(auth, Authenticate(auth)), Authenticated)
        except ApiError as error:
            return error
        self.auth = auth
        return 200, {"user_id": str(reply.user_id), "scopes": reply.scopes}

    def _session_set(self, message: Message) -> ApiError | tuple[int, Any]:
        try:
            params = msgspec.convert(message.params, SessionParams)
        except msgspec.ValidationError as error:
            return validation_error(error)
        self.cancel_on_disconnect = params.cancel_on_disconnect
        return 200, {"cancel_on_disconnect": self.cancel_on_disconnect}

    async def _deliver(
        self,
        request_id: RequestId | None,
        op: str,
        outcome: ApiError | tuple[int, Any],
        started: float,
    ) -> None:
        if isinstance(outcome, ApiError):
            status, text = outcome.status, messages.error_answer(request_id, outcome)
        else:
            status, text = outcome[0], messages.answer(request_id, *outcome)
        httpmetrics.record("WS", op, status, time.perf_counter() - started)
        if not self.open:
            return
        try:
            sent: WebSocketSendEvent = {
                "type": "websocket.send",
                "bytes": None,
                "text": text.decode(),
            }
            await self._send(sent)
        except Exception:  # the client is gone (or closing): nobody reads this answer
            self.open = False

    # --- what the connection placed ------------------------------------------------------------

    def _track(self, op: str, result: Any) -> None:
        items = result if isinstance(result, list) else [result]
        placing = op in PLACING
        for item in items:
            order = item.order if isinstance(item, BatchResultOut) else item
            if not isinstance(order, OrderOut):
                continue
            number = int(order.order_id)
            if placing and order.status in OPEN:
                self.placed.add(number)
            elif order.status not in OPEN:
                self.placed.discard(number)
        if len(self.placed) > self.prune_at and self.auth is not None:
            self.prune_at = 2 * len(self.placed)  # no second check while this one runs
            self._start(self._prune(self.auth), holds_slot=False)

    async def _prune(self, auth: Auth) -> None:
        """Keep tracking only the placed orders that are still open."""
        with contextlib.suppress(ApiError):
            still_open = await self._open_orders(auth)
            self.placed &= still_open
        self.prune_at = max(PRUNE_FLOOR, 2 * len(self.placed))

    async def _open_orders(self, auth: Auth) -> set[int]:
        found: set[int] = set()
        from_id = 0
        while True:
            request = ListOrders(auth, open_only=True, limit=1000, from_id=from_id)
            page = expect(await self.gw.link.user(auth, request), OrdersReply).orders
            found.update(order.order_id for order in page)
            if len(page) < 1000:
                return found
            from_id = page[-1].order_id + 1

    # --- the end ---------------------------------------------------------------------------------

    async def _close(self) -> None:
        if self.close_with is None or not self.open:
            return
        code, reason = self.close_with
        self.open = False
        with contextlib.suppress(Exception):
            closing: WebSocketCloseEvent = {
                "type": "websocket.close",
                "code": code,
                "reason": reason,
            }
            await self._send(closing)

    async def _end(self) -> None:
        """Cancel what the session asked to (the requests in flight have ended)."""
        self.open = False
        auth = self.auth
        if not (self.cancel_on_disconnect and auth is not None and self.placed):
            return
        if self.key_dead:
            return  # nothing can be done with a key that no longer works
        placed = sorted(self.placed)
        for first in range(0, len(placed), CANCEL_BATCH):
            batch = placed[first : first + CANCEL_BATCH]
            await asyncio.gather(*(self._cancel(auth, order_id) for order_id in batch))
        log.info(
            "cancelled on disconnect",
            extra={"fields": {"user_id": auth.user_id, "orders": len(placed)}},
        )

    async def _cancel(self, auth: Auth, order_id: int) -> None:
        requestid.current.set(requestid.made_id())
        with contextlib.suppress(ApiError):
            await operations.cancel_order(self.gw, auth, str(order_id))
