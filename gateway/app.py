"""The REST gateway as a Litestar app: ``create_app(config)``.

Invariants:
- Stateless: every worker process builds its own app, and in its startup its own
  zmq.asyncio Context and DEALER clients (closed at shutdown); nothing is shared between
  workers, so any number of them can serve one exchange.
- Every endpoint of docs/api.md under ``/api/v1``, the UI at ``/``, the OpenAPI document at
  ``/schema`` (a browsable page) and ``/schema/openapi.json``.
- Rate limiting runs before anything is parsed; bodies past ``gateway.max_body_bytes``
  are refused with 413, JSON nested past ``gateway.max_json_depth`` with 400; CORS
  answers only the configured origins.
- uvicorn serves :func:`asgi_app`: the request-id middleware around the whole app, and
  inside it the refusal of paths no route or file can have; WebSocket connections of
  the order entry path (``/api/v1/ws``) go to :class:`~gateway.ws.session.OrderEntry`,
  which shares the app's actors and rate-limit buckets.
- A worker process that uvicorn spawns (``gateway.workers`` > 1) sets up the same JSON
  logs as ``bourse run gateway`` before it builds the app, each line naming its worker.
"""

from __future__ import annotations

import os

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.plugins.prometheus import PrometheusController
from litestar.types import ASGIApp, Receive, Scope, Send, WebSocketCloseEvent

from bourse.config import Config, load_config
from bourse.logs import setup_logging
from gateway import inputs, requestid
from gateway.context import DEPENDENCIES, STATE_KEY, Gateway
from gateway.errors import EXCEPTION_HANDLERS
from gateway.openapi import complete_document, openapi_config
from gateway.ratelimit import Budgets, RateLimitMiddleware
from gateway.routes import account, admin, batches, docs, keys, lists, orders, public, system, ui
from gateway.ws.protocol import WS_PATH
from gateway.ws.session import OrderEntry

API_PREFIX = "/api/v1"
CONFIG_ENV = "BOURSE_CONFIG"
BUDGETS_KEY = "budgets"


class MetricsController(PrometheusController):
    """Prometheus text at /metrics: requests, latency and errors per route (per worker)."""

    path = "/metrics"
    include_in_schema = False


def create_app(config: Config) -> Litestar:
    gateway = Gateway(config)
    budgets = Budgets(config)
    api = Router(
        path=API_PREFIX,
        route_handlers=[
            *public.ROUTES,
            *system.ROUTES,
            *account.ROUTES,
            *orders.ROUTES,
            *batches.ROUTES,
            *lists.ROUTES,
            *keys.ROUTES,
            admin.router,
        ],
    )
    app = Litestar(
        route_handlers=[api, ui.ui_router(), docs.api_notes, MetricsController],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[DefineMiddleware(RateLimitMiddleware, budgets=budgets)],
        openapi_config=openapi_config(config),
        cors_config=_cors(config),
        request_max_body_size=config.raw.gateway.max_body_bytes,
        request_class=inputs.bounded_request_class(config.raw.gateway.max_json_depth),
        on_startup=[gateway.startup],
        on_shutdown=[gateway.shutdown],
        state=State({STATE_KEY: gateway, BUDGETS_KEY: budgets}),
        logging_config=None,
    )
    complete_document(app, config)
    return app


def _cors(config: Config) -> CORSConfig | None:
    origins = config.raw.gateway.cors_origins
    if not origins:
        return None
    return CORSConfig(
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )


def asgi_app(config: Config) -> ASGIApp:
    """What uvicorn serves: the app inside the request-id middleware, which so sees every
    request, those no route takes too; and order entry over WebSocket beside it."""
    app = create_app(config)
    http = requestid.request_id_middleware(inputs.refuse_bad_paths(app))
    order_entry = OrderEntry(app.state[STATE_KEY], app.state[BUDGETS_KEY], config)

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.WEBSOCKET:
            await http(scope, receive, send)
        elif scope["path"] == WS_PATH:
            await order_entry(scope, receive, send)
        else:  # only the order entry path upgrades (gateway/http_protocol.py)
            refused: WebSocketCloseEvent = {"type": "websocket.close", "code": 1008, "reason": ""}
            await send(refused)

    return serve


def app_from_env() -> ASGIApp:
    """The factory uvicorn's worker processes call: the config named by $BOURSE_CONFIG.
    A spawned worker starts with Python's default logging: its own is set up here."""
    setup_logging("gateway", worker=os.getpid())
    return asgi_app(load_config(os.environ[CONFIG_ENV]))
