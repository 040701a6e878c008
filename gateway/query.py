"""Query parameters declared as msgspec Structs.

A handler declared with ``dependencies=query(SomeQuery)`` and a parameter
``params: NamedDependency[SomeQuery]`` gets every field of the Struct as one query
parameter: Litestar validates each against the field's type and ``QueryParameter``
constraints and documents it in the OpenAPI document, so the Struct is the one source of
both.

Invariants: a field without a default is a required parameter; a field's default is the
parameter's default; a parameter the Struct does not name is refused with 400
INVALID_FIELD (a misspelt ``market`` on ``DELETE /orders`` must not cancel every order),
and so is a parameter given without a value of its type (``end=null``).
:func:`from_params` applies the same rules, and the ``QueryParameter`` bounds, to
parameters that come as a JSON object (order entry over WebSocket), so both ways in
accept the same queries.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

import msgspec
from litestar.di import Provide
from litestar.params import ParameterKwarg, QueryParameter
from litestar.params import QueryParams as SentQuery
from litestar.utils.typing import unwrap_annotation

from gateway.errors import invalid, validation_error

S = TypeVar("S", bound="QueryParams")
T = TypeVar("T", bound=msgspec.Struct)

# Litestar hands a dependency the whole query under this reserved name.
_SENT = "query"


class QueryParams(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the Structs that carry an endpoint's query parameters."""


def query(struct: type[S]) -> dict[str, Provide]:
    """The dependency that hands a handler its query Struct as ``params``."""
    return {"params": Provide(_builder(struct), sync_to_thread=False)}


def _refuse_unknown_and_null(sent: Iterable[str], known: frozenset[str], values: Any) -> None:
    unknown = sorted(set(sent) - known)
    if unknown:
        raise invalid(unknown[0], f"unknown query parameter {unknown[0]!r}")
    for name in sorted(sent):
        # Litestar reads "null" as None for an optional parameter; a parameter that is
        # given must have a value of its type, leaving it out is how to mean "none".
        if values.get(name) is None:
            raise invalid(name, f"{name} must be given a value of its type, or left out")


def from_params(struct: type[T], values: dict[str, Any]) -> T:
    """The query Struct from parameters given as a JSON object: as lenient about types as
    a query string (``"5"`` is 5), as strict about names, nulls and bounds."""
    known = frozenset(field.name for field in msgspec.structs.fields(struct))
    _refuse_unknown_and_null(values, known, values)
    try:
        params = msgspec.convert(values, struct, strict=False)
    except msgspec.ValidationError as error:
        raise validation_error(error) from None
    for field in msgspec.structs.fields(struct):
        value = getattr(params, field.name)
        if value is not None:
            _check_bounds(field.name, value, field.type)
    return params


def _check_bounds(name: str, value: Any, annotation: Any) -> None:
    for meta in unwrap_annotation(annotation)[1]:
        if not isinstance(meta, ParameterKwarg):
            continue
        if meta.ge is not None and value < meta.ge:
            raise invalid(name, f"{name} must be at least {meta.ge}")
        if meta.le is not None and value > meta.le:
            raise invalid(name, f"{name} must be at most {meta.le}")
        if meta.min_length is not None and len(value) < meta.min_length:
            raise invalid(name, f"{name} must be at least {meta.min_length} long")
        if meta.max_length is not None and len(value) > meta.max_length:
            raise invalid(name, f"{name} must be at most {meta.max_length} long")


def _builder(struct: type[S]) -> Callable[..., S]:
    fields = msgspec.structs.fields(struct)
    known = frozenset(field.name for field in fields)

    def build(**values: Any) -> S:
        _refuse_unknown_and_null(values.pop(_SENT), known, values)
        return struct(**values)

    parameters = []
    hints: dict[str, Any] = {}
    for field in fields:
        annotation = field.type
        if not any(isinstance(m, ParameterKwarg) for m in unwrap_annotation(annotation)[1]):
            annotation = Annotated[annotation, QueryParameter()]
        default = inspect.Parameter.empty if field.required else field.default
        parameters.append(
            inspect.Parameter(
                field.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
            )
        )
        hints[field.name] = annotation
    parameters.append(
        inspect.Parameter(_SENT, inspect.Parameter.KEYWORD_ONLY, annotation=SentQuery)
    )
    hints[_SENT] = SentQuery
    hints["return"] = struct
    build.__signature__ = inspect.Signature(parameters, return_annotation=struct)  # type: ignore[attr-defined]
    build.__annotations__ = hints
    build.__name__ = build.__qualname__ = f"query_{struct.__name__}"
    return build
