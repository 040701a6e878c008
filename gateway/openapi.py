"""The OpenAPI document: its settings, and what it says beyond the Structs.

Invariants:
- Served at ``/schema`` (a browsable page) and ``/schema/openapi.json``; private
  operations name the ``bearer`` scheme.
- The document says what the gateway enforces but the Structs cannot express: request
  bodies refuse unknown fields, ``market`` / ``asset`` take the values this exchange's
  config declares (any other is refused with 400 UNKNOWN_MARKET / UNKNOWN_ASSET by the
  handlers, which keep those codes), amounts are strings of ``format: decimal``, an
  order gives the amounts its type needs (a stop or take-profit one its ``stop_price``,
  a GTD one its ``expire_time``).
- A fixed-length array of one type (a depth level ``["price", "qty"]``) is written as
  ``items`` with ``minItems`` = ``maxItems``, which every validator reads the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    ExternalDocumentation,
    OpenAPIFormat,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
    SecurityScheme,
)

from bourse.config import Config
from bourse.money import MAX_UNITS
from gateway.routes.docs import DOCS_PATH
from gateway.schemas import CLOSED_BODIES, DECIMAL_PATTERN
from gateway.ws.protocol import WS_PATH

SCHEMA_PATH = "/schema"


def openapi_config(config: Config) -> OpenAPIConfig:
    return OpenAPIConfig(
        title=f"Bourse REST API ({config.exchange.name})",
        version="1",
        description=(
            "Spot exchange REST API.  Amounts, prices and quantities are decimal strings; "
            "times are integer milliseconds since the Unix epoch; ids are strings.  Every "
            'error is {"code", "message"} plus "field" when one input is at fault.\n\n'
            "The same operations are served over one WebSocket for clients that trade "
            f"often: order entry at `{WS_PATH}`, described (with API key scopes and "
            f"paging through history) in [{DOCS_PATH}]({DOCS_PATH})."
        ),
        external_docs=ExternalDocumentation(
            url=DOCS_PATH,
            description="Order entry over WebSocket, API key scopes, paging through history",
        ),
        path=SCHEMA_PATH,
        render_plugins=[SwaggerRenderPlugin(path="/")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="Authorization: Bearer <api_key> (or the operator's admin key)",
                )
            }
        ),
        use_handler_docstrings=False,
    )


def complete_document(app: Litestar, config: Config) -> None:
    """Add what the Structs cannot say to the (cached) generated document."""
    document = app.openapi_schema
    schemas = document.components.schemas or {}
    markets, assets = list(config.markets), list(config.assets)
    for schema in schemas.values():
        _walk(schema)
    for struct in CLOSED_BODIES:
        body = schemas.get(struct.__name__)
        if body is None:
            continue
        body.additional_properties = False
        for name, values in (("market", markets), ("asset", assets)):
            field = (body.properties or {}).get(name)
            if isinstance(field, Schema):
                field.enum = values
    order = schemas.get("OrderRequest")
    if order is not None:
        order.all_of = ORDER_SHAPE
    for item in (document.paths or {}).values():
        for operation in _operations(item.get, item.post, item.patch, item.delete):
            for parameter in operation.parameters or ():
                if not isinstance(parameter, Parameter):
                    continue
                if parameter.name == "market":
                    parameter.schema = Schema(
                        type=OpenAPIType.STRING, enum=markets, description="a market of /markets"
                    )
                elif parameter.name in OPTIONAL_INTEGERS:
                    parameter.schema = Schema(
                        type=OpenAPIType.INTEGER,
                        minimum=0,
                        maximum=MAX_UNITS,
                        description=parameter.description or OPTIONAL_INTEGERS[parameter.name],
                    )


# Optional query integers: a query cannot say null, and 0 is a real lower bound.
OPTIONAL_INTEGERS = {
    "start": "first bucket start, ms",
    "end": "last bucket start, ms",
    "from_id": "items with an id >= this, oldest first",
}


def _when(field: str, values: list[str], then: Schema, otherwise: Schema) -> Schema:
    return Schema(
        schema_if=Schema(properties={field: Schema(enum=values)}, required=[field]),
        then=then,
        schema_else=otherwise,
    )


# A limit order (or a stop or take-profit order that becomes one) gives price and qty; a
# market one qty (a buy may give quote_qty instead).  A stop or take-profit order gives
# stop_price, a GTD one expire_time; no other order does.
ORDER_SHAPE = [
    _when(
        "type",
        ["limit", "stop_limit", "take_profit_limit"],
        Schema(required=["price", "qty"]),
        Schema(any_of=[Schema(required=["qty"]), Schema(required=["quote_qty"])]),
    ),
    _when(
        "type",
        ["stop_limit", "stop_market", "take_profit_limit", "take_profit_market"],
        Schema(required=["stop_price"]),
        Schema(schema_not=Schema(required=["stop_price"])),
    ),
    _when(
        "time_in_force",
        ["GTD"],
        Schema(required=["expire_time"]),
        Schema(schema_not=Schema(required=["expire_time"])),
    ),
]


def _walk(schema: Schema | Reference) -> None:
    if not isinstance(schema, Schema):
        return
    if schema.pattern == DECIMAL_PATTERN:
        schema.format = cast(OpenAPIFormat, "decimal")
    prefix = schema.prefix_items
    if prefix and all(item == prefix[0] for item in prefix):
        schema.items = prefix[0]
        schema.min_items = schema.max_items = len(prefix)
        schema.prefix_items = None
    children: list[Schema | Reference] = [
        *(schema.properties or {}).values(),
        *(schema.one_of or ()),
        *(schema.any_of or ()),
        *(schema.all_of or ()),
        *(schema.prefix_items or ()),
    ]
    if isinstance(schema.items, Schema):
        children.append(schema.items)
    for child in children:
        _walk(child)


def _operations(*operations: Operation | None) -> Iterable[Operation]:
    return (operation for operation in operations if operation is not None)
