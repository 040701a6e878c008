"""The order entry protocol's messages (API.md "Order entry over WebSocket"): a client's
message read and checked, and the answers it gets.

Invariants:
- :func:`parse` never raises: it gives a :class:`Message`, or a :class:`Refusal` that
  carries the message's ``id`` when one could be read (else None) and a 400
  INVALID_FIELD naming the problem (not JSON, nested past the limit, not an object, no
  valid ``id``, no ``op``, ``params`` not an object).
- An ``id`` is an integer (not a boolean) of at most 64 bits or a string of at most
  ``MAX_ID_LENGTH`` characters; an answer repeats it exactly.
- A text nested deeper than the limit never reaches the JSON parser
  (``bourse.jsondepth``).
- Answers are ``{"id", "status", "result"}`` or ``{"id", "status", "error": {"code",
  "message", "field"?}}``, encoded by one Encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from bourse.jsondepth import nests_deeper
from gateway.errors import ApiError, ErrorBody

MAX_ID_LENGTH = 64
_MIN_ID, _MAX_ID = -(2**63), 2**64 - 1

RequestId = int | str


@dataclass(frozen=True, slots=True)
class Message:
    id: RequestId
    op: str
    params: dict[str, Any]
    api_key: str | None


@dataclass(frozen=True, slots=True)
class Refusal:
    id: RequestId | None
    error: ApiError


class Answer(msgspec.Struct, frozen=True):
    id: RequestId | None
    status: int
    result: Any


class ErrorAnswer(msgspec.Struct, frozen=True):
    id: RequestId | None
    status: int
    error: ErrorBody


_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def parse(text: str | bytes, max_depth: int) -> Message | Refusal:
    if nests_deeper(text, max_depth):
        return _refused(None, "body", f"the message nests deeper than {max_depth} levels")
    try:
        value = _decode(text)
    except msgspec.DecodeError as error:
        return _refused(None, "body", f"the message is not JSON: {error}")
    if not isinstance(value, dict):
        return _refused(None, "body", "a message is a JSON object with an id and an op")
    if not _valid_id(value.get("id")):
        return _refused(
            None, "id", f"every message needs an id: an integer, or a string of 1-{MAX_ID_LENGTH}"
        )
    request_id: RequestId = value["id"]
    op = value.get("op")
    if not isinstance(op, str):
        return _refused(request_id, "op", "every message needs an op (a string)")
    params = value.get("params", {})
    if not isinstance(params, dict):
        return _refused(request_id, "params", "params must be a JSON object")
    api_key = value.get("api_key")
    if api_key is not None and not isinstance(api_key, str):
        return _refused(request_id, "api_key", "api_key must be a string")
    return Message(request_id, op, params, api_key)


def _valid_id(request_id: object) -> bool:
    if type(request_id) is int:
        return _MIN_ID <= request_id <= _MAX_ID
    return isinstance(request_id, str) and 1 <= len(request_id) <= MAX_ID_LENGTH


def _refused(request_id: RequestId | None, field: str, message: str) -> Refusal:
    return Refusal(request_id, ApiError(400, "INVALID_FIELD", message, field))


def answer(request_id: RequestId | None, status: int, result: Any) -> bytes:
    return _encode(Answer(request_id, status, result))


def error_answer(request_id: RequestId | None, error: ApiError) -> bytes:
    body = ErrorBody(error.code, error.message, error.field)
    return _encode(ErrorAnswer(request_id, error.status, body))
