"""A blocking client of etcd's v3 JSON gateway (``POST http://host:port/v3/...``).

Invariants:
- Every call is bounded: it connects and then waits for the answer each within
  ``timeout_s``; an endpoint that refuses the connection is skipped for the next one in
  the same call.  No endpoint answering raises :class:`EtcdUnavailable`; an answer that
  is an error raises :class:`EtcdError`.  Nothing ever waits without a deadline.
- A request that may have reached etcd is never sent twice by this module (only a refused
  connection moves on to the next endpoint): retries are the caller's, who knows whether
  the request is idempotent.
- Keys and values are bytes (base64 on the wire), int64 fields are strings on the wire;
  proto3 leaves zero values out, so every field of an answer has its zero default.
  Answers are decoded into typed structs: an answer of the wrong shape is an
  :class:`EtcdError`, never a crash further on.
- One instance may be shared by threads (httpx's pool is thread-safe); a watch holds one
  connection of its own for as long as it streams.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, TypeVar

import httpx
import msgspec


class EtcdError(Exception):
    """etcd answered, and the answer is an error (or not an answer of etcd at all)."""


class EtcdUnavailable(EtcdError):
    """No endpoint answered within the timeout."""


# -- requests ------------------------------------------------------------------------------

Target = Literal["VERSION", "CREATE", "MOD", "VALUE", "LEASE"]
Result = Literal["EQUAL", "GREATER", "LESS", "NOT_EQUAL"]


class _Request(msgspec.Struct, omit_defaults=True, frozen=True):
    pass


class Compare(_Request, frozen=True):
    """``key`` (or every key of ``[key, range_end)``) compared on ``target``."""

    key: bytes
    target: Target
    result: Result
    create_revision: int = 0
    value: bytes = b""
    range_end: bytes = b""


class RangeRequest(_Request, frozen=True):
    key: bytes
    range_end: bytes = b""
    revision: int = 0
    count_only: bool = False


class PutRequest(_Request, frozen=True):
    key: bytes
    value: bytes
    lease: int = 0


class DeleteRangeRequest(_Request, frozen=True):
    key: bytes
    range_end: bytes = b""


class RequestOp(_Request, frozen=True):
    request_range: RangeRequest | None = None
    request_put: PutRequest | None = None
    request_delete_range: DeleteRangeRequest | None = None


def range_op(key: bytes, range_end: bytes = b"", count_only: bool = False) -> RequestOp:
    return RequestOp(request_range=RangeRequest(key, range_end, count_only=count_only))


def put_op(key: bytes, value: bytes, lease: int = 0) -> RequestOp:
    return RequestOp(request_put=PutRequest(key, value, lease))


def delete_op(key: bytes, range_end: bytes = b"") -> RequestOp:
    return RequestOp(request_delete_range=DeleteRangeRequest(key, range_end))


def exists(key: bytes) -> Compare:
    return Compare(key, "CREATE", "GREATER", create_revision=0)


def absent(key: bytes, range_end: bytes = b"") -> Compare:
    """``key`` does not exist (with ``range_end``: no key of the range exists)."""
    return Compare(key, "CREATE", "EQUAL", create_revision=0, range_end=range_end)


def created_at(key: bytes, revision: int) -> Compare:
    return Compare(key, "CREATE", "EQUAL", create_revision=revision)


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that makes a range of every key starting with ``prefix``."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"  # every key


# -- answers -------------------------------------------------------------------------------


class _Answer(msgspec.Struct, frozen=True):
    pass


class Header(_Answer, frozen=True):
    revision: int = 0


class KeyValue(_Answer, frozen=True):
    key: bytes = b""
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    value: bytes = b""
    lease: int = 0


class RangeResponse(_Answer, frozen=True):
    header: Header = Header()
    kvs: list[KeyValue] = []
    count: int = 0


class PutResponse(_Answer, frozen=True):
    header: Header = Header()


class DeleteRangeResponse(_Answer, frozen=True):
    header: Header = Header()
    deleted: int = 0


class ResponseOp(_Answer, frozen=True):
    response_range: RangeResponse | None = None
    response_put: PutResponse | None = None
    response_delete_range: DeleteRangeResponse | None = None


class TxnResponse(_Answer, frozen=True):
    header: Header = Header()
    succeeded: bool = False
    responses: list[ResponseOp] = []


class LeaseGrantResponse(_Answer, frozen=True):
    header: Header = Header()
    ID: int = 0
    TTL: int = 0
    error: str = ""


class LeaseKeepAliveResponse(_Answer, frozen=True):
    ID: int = 0
    TTL: int = 0  # 0: the lease is gone


class Status(_Answer, frozen=True):
    error: str = ""
    message: str = ""
    code: int = 0


class KeepAliveMessage(_Answer, frozen=True):
    result: LeaseKeepAliveResponse | None = None
    error: Status | None = None


class Event(_Answer, frozen=True):
    type: Literal["PUT", "DELETE"] = "PUT"
    kv: KeyValue = KeyValue()


class WatchResponse(_Answer, frozen=True):
    header: Header = Header()
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0
    cancel_reason: str = ""
    events: list[Event] = []


class WatchMessage(_Answer, frozen=True):
    result: WatchResponse | None = None
    error: Status | None = None


class _WatchCreate(_Request, frozen=True):
    key: bytes
    range_end: bytes = b""
    start_revision: int = 0
    progress_notify: bool = False


class _WatchRequest(_Request, frozen=True):
    create_request: _WatchCreate


class _Txn(_Request, frozen=True):
    compare: list[Compare]
    success: list[RequestOp]
    failure: list[RequestOp]


class _LeaseId(_Request, frozen=True):
    ID: int


class _LeaseGrant(_Request, frozen=True):
    TTL: int


A = TypeVar("A", bound=_Answer)
_ENCODER = msgspec.json.Encoder()
# int64 fields come as strings: only a non-strict decoder turns "12" into 12.
_DECODERS: dict[type[_Answer], msgspec.json.Decoder[_Answer]] = {}


def _decode(data: bytes, kind: type[A]) -> A:
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind, strict=False)
    try:
        answer = decoder.decode(data)
    except msgspec.DecodeError as error:
        raise EtcdError(f"etcd's answer is not a {kind.__name__}: {error}") from None
    assert isinstance(answer, kind)
    return answer


class EtcdClient:
    def __init__(self, endpoints: Sequence[str], timeout_s: float) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoint")
        self._endpoints = list(endpoints)
        self._preferred = 0
        self._timeout = httpx.Timeout(timeout_s)
        self._http = httpx.Client(timeout=self._timeout)

    def close(self) -> None:
        self._http.close()

    # -- calls ---------------------------------------------------------------------------

    def range(self, key: bytes, range_end: bytes = b"", revision: int = 0) -> RangeResponse:
        return self._call("/v3/kv/range", RangeRequest(key, range_end, revision), RangeResponse)

    def put(self, key: bytes, value: bytes, lease: int = 0) -> PutResponse:
        return self._call("/v3/kv/put", PutRequest(key, value, lease), PutResponse)

    def delete(self, key: bytes, range_end: bytes = b"") -> DeleteRangeResponse:
        request = DeleteRangeRequest(key, range_end)
        return self._call("/v3/kv/deleterange", request, DeleteRangeResponse)

    def txn(
        self, compare: list[Compare], success: list[RequestOp], failure: list[RequestOp]
    ) -> TxnResponse:
        return self._call("/v3/kv/txn", _Txn(compare, success, failure), TxnResponse)

    def lease_grant(self, ttl_s: int) -> LeaseGrantResponse:
        granted = self._call("/v3/lease/grant", _LeaseGrant(ttl_s), LeaseGrantResponse)
        if granted.error or granted.ID == 0 or granted.TTL <= 0:
            raise EtcdError(f"etcd granted no lease: {granted.error or 'no id or TTL'}")
        return granted

    def lease_keepalive(self, lease: int) -> int:
        """The lease's TTL in seconds once renewed, 0 when etcd no longer has it."""
        message = self._call("/v3/lease/keepalive", _LeaseId(lease), KeepAliveMessage)
        if message.error is not None:
            raise EtcdError(f"etcd refused the keepalive: {message.error.message}")
        if message.result is None:
            raise EtcdError("etcd's keepalive answer has no result")
        return message.result.TTL

    def lease_revoke(self, lease: int) -> None:
        try:
            self._call("/v3/lease/revoke", _LeaseId(lease), PutResponse)
        except EtcdError as error:
            if "lease not found" not in str(error):
                raise

    def watch(
        self, key: bytes, range_end: bytes, start_revision: int, idle_s: float
    ) -> Iterator[WatchResponse]:
        """The responses of one watch stream, in order, until the stream ends or stays
        silent for ``idle_s`` (both raise :class:`EtcdUnavailable`: reconnect and resume)."""
        create = _WatchCreate(key, range_end, start_revision, progress_notify=True)
        body = _ENCODER.encode(_WatchRequest(create))
        timeout = httpx.Timeout(self._timeout.connect, read=idle_s)
        url = self._endpoints[self._preferred] + "/v3/watch"
        try:
            with self._http.stream("POST", url, content=body, timeout=timeout) as response:
                if response.status_code != 200:
                    response.read()
                    raise self._refusal(response)
                for line in response.iter_lines():
                    if not line:
                        continue
                    message = _decode(line.encode(), WatchMessage)
                    if message.error is not None:
                        raise EtcdError(f"etcd ended the watch: {message.error.message}")
                    if message.result is not None:
                        yield message.result
        except httpx.TransportError as error:
            self._next_endpoint()
            raise EtcdUnavailable(f"etcd watch at {url}: {_describe(error)}") from None
        raise EtcdUnavailable(f"etcd watch at {url}: the stream ended")

    # -- plumbing ------------------------------------------------------------------------

    def _call(self, path: str, request: _Request, kind: type[A]) -> A:
        body = _ENCODER.encode(request)
        failures = []
        for _ in range(len(self._endpoints)):
            url = self._endpoints[self._preferred] + path
            try:
                response = self._http.post(url, content=body)
            except httpx.ConnectError as error:
                # Never reached etcd: the next endpoint may answer.
                failures.append(f"{url}: {_describe(error)}")
                self._next_endpoint()
                continue
            except httpx.TransportError as error:
                self._next_endpoint()
                raise EtcdUnavailable(f"etcd at {url}: {_describe(error)}") from None
            if response.status_code != 200:
                raise self._refusal(response)
            return _decode(response.content, kind)
        raise EtcdUnavailable("no etcd endpoint answered: " + "; ".join(failures))

    def _next_endpoint(self) -> None:
        self._preferred = (self._preferred + 1) % len(self._endpoints)

    @staticmethod
    def _refusal(response: httpx.Response) -> EtcdError:
        try:
            status = msgspec.json.decode(response.content, type=Status)
            detail = status.message or status.error
        except msgspec.DecodeError:
            detail = response.text[:200]
        if response.status_code == 503:  # no leader, or etcd still starting
            return EtcdUnavailable(f"etcd is unavailable: {detail}")
        return EtcdError(f"etcd answered {response.status_code}: {detail}")


def _describe(error: httpx.TransportError) -> str:
    return f"{type(error).__name__} {error}".strip()
