"""Every failure leaves the gateway as docs/api.md's error body, with the status of its table.

Invariants:
- An error answer is ``{"code", "message"}`` plus ``"field"`` when one input is at fault;
  ``code`` is a stable UPPER_SNAKE string.
- No input reaches a 500: Litestar's own refusals (malformed JSON, wrong types, missing or
  unknown fields, values outside the documented set) become 400 ``INVALID_FIELD`` naming
  the field, unknown routes 404 ``NOT_FOUND``, wrong methods 405, big bodies 413, a
  body that stopped before its end (the client left, or the body timeout cut it off)
  408 ``REQUEST_TIMEOUT``: nobody reads that one, but the metrics and the log tell it
  apart from a fault of ours.  Only a bug in the gateway answers 500 ``INTERNAL``, and
  it is logged.
- The OpenAPI document describes every error answer with :class:`ErrorBody`, so a client
  generated from it can read any refusal.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap, Send

from bourse.money import AmountError

log = logging.getLogger("gateway")


class ErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    code: str
    message: str
    field: str | None = None


class ApiError(Exception):
    """A refusal with its HTTP status, raised anywhere a request is handled."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "INVALID_FIELD", message, field)


def unknown_market(name: str | None) -> ApiError:
    return ApiError(400, "UNKNOWN_MARKET", f"unknown market {name!r}", "market")


def unauthenticated(message: str = "missing or wrong API key") -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message)


_PATH_IN_MESSAGE = re.compile(r"`\$\.([A-Za-z_][A-Za-z0-9_]*)")


def validation_error(error: msgspec.ValidationError) -> ApiError:
    """A msgspec refusal of a JSON value as 400 INVALID_FIELD naming the field, as the
    REST handlers' refusals name it (for input decoded outside Litestar)."""
    message = str(error)
    at = _PATH_IN_MESSAGE.search(message) or _NAMED_IN_MESSAGE.search(message)
    return ApiError(400, "INVALID_FIELD", message, at.group(1) if at is not None else "params")


_encoder = msgspec.json.Encoder()

_HTTP_CODES = {
    400: "INVALID_FIELD",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED",
    503: "UNAVAILABLE",
    504: "TIMEOUT",
}

# msgspec names the culprit inside the message when the path does not.
_NAMED_IN_MESSAGE = re.compile(r"field `([^`]+)`")
_MISSING_PARAMETER = re.compile(r"Missing required \w+ parameter '([^']+)'")
_BODY_KEYS = frozenset(("data", ""))


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    body = encode_error(code, message, field)
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def encode_error(code: str, message: str, field: str | None = None) -> bytes:
    return _encoder.encode(ErrorBody(code, message, field))


async def send_error(
    send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """An error answer straight from an ASGI layer, ``body`` from :func:`encode_error`."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _api_error(_: Request[Any, Any, Any], error: ApiError) -> Response[bytes]:
    return error_response(error.status, error.code, error.message, error.field)


def _amount_error(_: Request[Any, Any, Any], error: AmountError) -> Response[bytes]:
    return error_response(400, error.code, error.message, error.field)


def _validation_error(_: Request[Any, Any, Any], error: ValidationException) -> Response[bytes]:
    field, message = _culprit(error)
    return error_response(400, "INVALID_FIELD", message, field)


def _culprit(error: ValidationException) -> tuple[str | None, str]:
    """The field a Litestar validation error is about, and a message that names it."""
    extra = error.extra
    if isinstance(extra, list) and extra and isinstance(extra[0], dict):
        first: dict[str, Any] = extra[0]
        # Query Structs nest their fields under the dependency's name ("query.limit").
        key = str(first.get("key", "")).rpartition(".")[2]
        message = str(first.get("message", "invalid input"))
        named = _NAMED_IN_MESSAGE.search(message)
        if named is not None:
            return named.group(1), message
        if key in _BODY_KEYS:
            return "body", "the body must be a JSON object as documented"
        return key, f"{key}: {message}"
    detail = str(error.detail)
    missing = _MISSING_PARAMETER.search(detail)
    if missing is not None:
        return missing.group(1), f"{missing.group(1)} is required"
    if "JSON" in detail or "body" in detail.lower():
        return "body", f"the body is not valid JSON: {detail}"
    return None, detail


# How Litestar says that http.disconnect came before the body's end (a 500 of its own).
_BODY_CUT_OFF = "client disconnected prematurely"


def _http_error(_: Request[Any, Any, Any], error: HTTPException) -> Response[bytes]:
    status = error.status_code
    if status == 500 and error.detail == _BODY_CUT_OFF:
        return error_response(408, "REQUEST_TIMEOUT", "the body did not arrive whole")
    if status >= 500:
        log.error("server error", extra={"fields": {"status": status, "detail": error.detail}})
        return error_response(status, "INTERNAL", "internal error")
    code = _HTTP_CODES.get(status, HTTPStatus(status).name)
    message = str(error.detail) if error.detail else HTTPStatus(status).phrase
    field = "body" if status == 400 else None
    headers = dict(error.headers) if error.headers else None
    return error_response(status, code, message, field, headers)


def _unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[bytes]:
    log.exception(
        "unhandled error",
        exc_info=error,
        extra={"fields": {"method": request.method, "path": request.url.path}},
    )
    return error_response(500, "INTERNAL", "internal error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: _api_error,
    AmountError: _amount_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}

_DESCRIPTIONS = {
    400: "Malformed or invalid input: INVALID_FIELD, OFF_TICK, OFF_LOT, NOT_POSITIVE, "
    "OUT_OF_RANGE, UNKNOWN_MARKET, UNKNOWN_ASSET",
    401: "Missing or wrong API key: UNAUTHENTICATED",
    403: "The key may not do this: FORBIDDEN, FORBIDDEN_SCOPE (the key lacks the call's "
    "scope), IP_NOT_ALLOWED (the key does not serve this address)",
    404: "No such order or key for this user (another user's too): ORDER_NOT_FOUND, "
    "KEY_NOT_FOUND, USER_NOT_FOUND",
    409: "DUPLICATE_CLIENT_ORDER_ID, DUPLICATE_CLIENT_LIST_ID, AMEND_IN_PROGRESS",
    408: "It reached the exchange past its deadline (recv_window_ms, or the request timeout) "
    "and was not executed, nor ever will be: EXPIRED",
    413: "The body is larger than the gateway accepts: PAYLOAD_TOO_LARGE",
    422: "A valid request the rules refuse: INSUFFICIENT_FUNDS, MIN_NOTIONAL, "
    "POST_ONLY_WOULD_TAKE, MARKET_HALTED, MARKET_CANCEL_ONLY, WOULD_TRIGGER_IMMEDIATELY, "
    "ORDER_CLOSED, ORDER_NOT_AMENDABLE, AMEND_BELOW_FILLED, TOO_MANY_KEYS, LAST_KEYS_KEY",
    429: "Too many requests for this key or address: RATE_LIMITED",
    503: "An actor is down; the outcome may be unknown (query by client_order_id): UNAVAILABLE",
    504: "An actor did not answer in time; the outcome may be unknown: TIMEOUT",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error answers an endpoint can give."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody, description=_DESCRIPTIONS[status], generate_examples=False
        )
        for status in sorted({*statuses, 429})
    }
