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

import contextlib
import http.client
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec

# httpx logs every request at info: three lease keepalives a second would fill the logs.
logging.getLogger("httpx").setLevel(logging.WARNING)


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
MAX_WATCH_LINE = 64 * 1024 * 1024
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
        self._timeout_s = timeout_s
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s))

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
    ) -> WatchStream:
        """A watch of ``[key, range_end)`` from ``start_revision``, once etcd said it
        created it (within the timeout, like any call)."""
        create = _WatchCreate(key, range_end, start_revision, progress_notify=True)
        body = _ENCODER.encode(_WatchRequest(create))
        failures = []
        for _ in range(len(self._endpoints)):
            endpoint = self._endpoints[self._preferred]
            stream = WatchStream(endpoint, self._timeout_s, idle_s)
            try:
                stream.open(body)
                return stream
            except ConnectionRefusedError as error:
                failures.append(f"{endpoint}: {error}")
                self._next_endpoint()
            except EtcdUnavailable:
                self._next_endpoint()
                raise
        raise EtcdUnavailable("no etcd endpoint answered: " + "; ".join(failures))

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
                refusal = _refusal(response.status_code, response.content)
                if isinstance(refusal, EtcdUnavailable):
                    self._next_endpoint()  # a member cut off from the others, say
                raise refusal
            return _decode(response.content, kind)
        raise EtcdUnavailable("no etcd endpoint answered: " + "; ".join(failures))

    def _next_endpoint(self) -> None:
        self._preferred = (self._preferred + 1) % len(self._endpoints)


def _refusal(status_code: int, content: bytes) -> EtcdError:
    try:
        status = msgspec.json.decode(content, type=Status)
        detail = status.message or status.error
    except msgspec.DecodeError:
        detail = content[:200].decode(errors="replace")
    if status_code == 503:  # no leader, or etcd still starting
        return EtcdUnavailable(f"etcd is unavailable: {detail}")
    return EtcdError(f"etcd answered {status_code}: {detail}")


def _describe(error: Exception) -> str:
    return f"{type(error).__name__} {error}".strip()


class WatchStream:
    """One watch stream over a connection of its own (the standard library's, so that its
    socket's timeout can change once the stream is up, and another thread can end it).

    Iterating gives the responses in order; the iteration raises
    :class:`EtcdUnavailable` when the stream ends, breaks, or stays silent ``idle_s``.
    The thread that iterates closes it; any other may :meth:`shutdown` it.
    """

    def __init__(self, endpoint: str, timeout_s: float, idle_s: float) -> None:
        parts = urlsplit(endpoint)
        self._where = endpoint + "/v3/watch"
        self._connection = http.client.HTTPConnection(
            parts.hostname or "", parts.port, timeout=timeout_s
        )
        self._idle_s = idle_s
        self._response: http.client.HTTPResponse | None = None
        self._first: WatchResponse | None = None
        self._closed = threading.Event()

    def open(self, body: bytes) -> None:
        """Send the request and read etcd's first answer, each within the timeout."""
        try:
            self._connection.request(
                "POST", "/v3/watch", body, headers={"Content-Type": "application/json"}
            )
            response = self._connection.getresponse()
            if response.status != 200:
                raise _refusal(response.status, response.read(4096))
            self._response = response
            first = self._next()
        except ConnectionRefusedError:
            self.close()
            raise
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise EtcdUnavailable(f"etcd watch at {self._where}: {_describe(error)}") from None
        except EtcdError:
            self.close()
            raise
        if not first.created:
            self._first = first
        sock = self._connection.sock
        if sock is not None:
            sock.settimeout(self._idle_s)

    def __iter__(self) -> Iterator[WatchResponse]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        try:
            while True:
                yield self._next()
        except (OSError, http.client.HTTPException) as error:
            raise EtcdUnavailable(f"etcd watch at {self._where}: {_describe(error)}") from None

    def _next(self) -> WatchResponse:
        assert self._response is not None
        while True:
            line = self._response.readline(MAX_WATCH_LINE)
            if not line or not line.endswith(b"\n"):
                why = "closed" if self._closed.is_set() else "the stream ended"
                raise EtcdUnavailable(f"etcd watch at {self._where}: {why}")
            if line.strip():
                break
        message = _decode(line, WatchMessage)
        if message.error is not None:
            raise EtcdError(f"etcd ended the watch: {message.error.message}")
        if message.result is None:
            raise EtcdError("etcd's watch answer has no result")
        return message.result

    def shutdown(self) -> None:
        """End the stream now, from any thread: a read waiting on it returns at once."""
        self._closed.set()
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Release the connection (by the thread that reads it)."""
        self._closed.set()
        self._connection.close()
