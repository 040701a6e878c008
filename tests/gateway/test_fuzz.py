"""Property-based fuzzing of the whole REST API from the OpenAPI document it serves.

Schemathesis generates valid and invalid requests for every documented operation and
checks each answer: never a 5xx, a status the document lists, a body that conforms to
the documented schema.  Private calls go with a funded user's key, admin calls with the
admin key.  Afterwards, money is still conserved over every shard.

Hypothesis adds what a schema cannot describe, spoken as raw HTTP: JSON bodies nested
to any depth (400 past the limit), paths with NUL, control characters and broken
escapes (400 or 404), heads past the size or count limit (431), and heads or bodies cut
off anywhere (408 and closed at the timeout).  None is ever answered 5xx.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import string
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from gateway_kit import (
    ADMIN,
    ADMIN_KEY,
    Api,
    User,
    dial,
    exchange,
    read_until_closed,
    wait_until,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bourse.config import load_config
from gateway.app import create_app
from harness.cluster import ROOT, Cluster

MAX_EXAMPLES = 30
# Placing orders is where money moves: worth more examples, so that some of them trade.
MORE_EXAMPLES = {("POST", "/api/v1/orders"): 150}

# Amounts are documented as `format: decimal`; mostly plausible ones, so that orders pass
# the grid and trade, and now and then any decimal at all.
schemathesis.openapi.format(
    "decimal",
    st.one_of(
        st.sampled_from(["0.001", "0.01", "0.1", "0.5", "1", "2", "10", "100", "1000", "30000"]),
        st.from_regex(r"\A[0-9]{1,6}(\.[0-9]{1,9})?\Z"),
    ),
)


TIMEOUT_MS = 2000  # the fuzzed gateway's header and body timeouts
MAX_DEPTH = 32  # gateway.max_json_depth's default
MAX_HEAD = 16_384  # gateway.max_header_bytes's default
MAX_HEADERS = 100  # gateway.max_headers's default


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    timeouts = {
        '[gateway]\nhost = "local"': (
            f"[gateway]\nheader_timeout_ms = {TIMEOUT_MS}\nbody_timeout_ms = {TIMEOUT_MS}\n"
            'host = "local"'
        )
    }
    with exchange(tmp_path_factory.mktemp("fuzzed"), replace=timeouts, feed=True) as pair:
        yield pair


@pytest.fixture(scope="module")
def trader(fuzzed: tuple[Cluster, Api]) -> User:
    _, api = fuzzed
    return api.new_user(BTC="10", ETH="100", USDT="1000000")


def _load(api: Api, key: str) -> Any:
    """The document the running gateway serves, with ``key`` as the bearer token."""
    config = SchemathesisConfig.from_dict({"auth": {"openapi": {"bearer": {"bearer": key}}}})
    return schemathesis.openapi.from_url(api.base_url + "/schema/openapi.json", config=config)


@pytest.fixture(scope="module")
def served(fuzzed: tuple[Cluster, Api], trader: User) -> Any:
    return _load(fuzzed[1], trader.key)


@pytest.fixture(scope="module")
def served_to_admin(fuzzed: tuple[Cluster, Api]) -> Any:
    return _load(fuzzed[1], ADMIN_KEY)


@pytest.fixture(scope="module")
def served_to_key_owner(fuzzed: tuple[Cluster, Api]) -> Any:
    """Key management with a user of its own: whatever keys it makes or revokes, the
    trader's key keeps working for the other operations."""
    _, api = fuzzed
    return _load(api, api.new_user().key)


def _documented() -> dict[tuple[str, str], dict[str, Any]]:
    """Every documented operation and its OpenAPI description."""
    document = create_app(load_config(ROOT / "configs" / "local.toml")).openapi_schema
    return {
        (method.upper(), path): spec
        for path, item in document.to_schema()["paths"].items()
        for method, spec in item.items()
    }


DOCUMENTED = _documented()
# Every operation, and whether it takes any input (else no invalid one).
OPERATIONS = {
    operation: bool(spec.get("parameters") or spec.get("requestBody"))
    for operation, spec in DOCUMENTED.items()
}
CASES = sorted(
    (method, path, mode)
    for (method, path), takes_input in OPERATIONS.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if takes_input or mode is GenerationMode.POSITIVE
)


def test_the_served_document_has_every_operation(served: Any) -> None:
    served_operations = {
        (operation.ok().method.upper(), operation.ok().path)
        for operation in served.get_all_operations()
    }
    assert served_operations == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=lambda v: str(v))
def test_every_operation_answers_as_documented(
    method: str,
    path: str,
    mode: GenerationMode,
    served: Any,
    served_to_admin: Any,
    served_to_key_owner: Any,
    fuzzed: tuple[Cluster, Api],
) -> None:
    _, api = fuzzed
    document = served
    if path.startswith("/api/v1/admin"):
        document = served_to_admin
    elif path.startswith("/api/v1/keys"):
        document = served_to_key_owner

    @given(case=document[path][method].as_strategy(generation_mode=mode))
    @settings(
        max_examples=MORE_EXAMPLES.get((method, path), MAX_EXAMPLES),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: Any) -> None:
        # A request the schema allows may still break a rule the schema cannot say (an
        # unknown market, a price off the tick): refusing it with a documented 4xx is right.
        case.call_and_validate(base_url=api.base_url, excluded_checks=[positive_data_acceptance])

    answers_as_documented()


def test_money_is_conserved_after_fuzzing(fuzzed: tuple[Cluster, Api]) -> None:
    _, api = fuzzed
    for market in ("BTC-USDT", "ETH-USDT"):
        api.post(f"/api/v1/admin/markets/{market}/resume", headers=ADMIN)
    wait_until(
        lambda: all(s["pending_requests"] == 0 for s in api.get("/api/v1/health").json()["shards"]),
        what="no request is in flight",
    )
    totals = api.totals()
    assert totals["conserved"] is True, totals
    for row in totals["assets"]:
        assert row["traded_in"] == row["traded_out"], row


# --- raw HTTP: what no schema describes ---------------------------------------------------


def _raw(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    """One request sent as written (no client library re-encodes the path)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        answer = response.read()
        return response.status, json.loads(answer) if answer.startswith(b"{") else {}
    finally:
        connection.close()


def _nested(depth: int, kinds: str) -> str:
    opening = "".join("[" if kinds[i % len(kinds)] == "a" else '{"k":' for i in range(depth))
    closing = "".join("]" if kinds[i % len(kinds)] == "a" else "}" for i in reversed(range(depth)))
    return opening + "1" + closing


BODY_OPERATIONS = sorted(op for op, spec in DOCUMENTED.items() if spec.get("requestBody"))


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS, ids=lambda v: str(v))
def test_nested_bodies_are_refused_past_the_limit(
    method: str, path: str, fuzzed: tuple[Cluster, Api], trader: User
) -> None:
    cluster, _ = fuzzed
    port = cluster.config.gateway.port
    headers = ADMIN if path.startswith("/api/v1/admin") else trader.headers
    concrete = path.replace("{order_id}", "1").replace("{market}", "NO-SUCH")

    @given(
        depth=st.integers(1, 3000),
        kinds=st.text(alphabet="ao", min_size=1, max_size=4),
        where=st.sampled_from(["whole", "field"]),
    )
    @settings(max_examples=25, deadline=None, database=None)
    def refused_past_the_limit(depth: int, kinds: str, where: str) -> None:
        nested = _nested(depth, kinds)
        text = nested if where == "whole" else '{"asset":"USDT","amount":' + nested + "}"
        status, body = _raw(port, method, concrete, headers, text.encode())
        assert status < 500, (status, body)
        levels = depth + (where == "field")
        if levels > MAX_DEPTH and len(text) <= 16_384:
            assert status == 400 and body["code"] == "INVALID_FIELD", (status, body)
            assert body["field"] == "body", body

    refused_past_the_limit()


_ODD = ["%00", "%", "%Z", "%ZZ", "%0", "%C0%AF", "%FF", "%7F", "%0A", "%0d", "%u0000", "%%"]
_PLAIN = string.ascii_letters + string.digits + "-._~"
_ODD_SEGMENT = st.tuples(
    st.text(alphabet=_PLAIN, max_size=4),
    st.lists(st.sampled_from(_ODD), min_size=1, max_size=3).map("".join),
    st.text(alphabet=_PLAIN, max_size=4),
).map("".join)
_TEMPLATES = sorted(
    {(m, p) for (m, p) in OPERATIONS if "{" in p}
    | {("GET", "/assets/{x}"), ("GET", "/{x}"), ("GET", "/api/v1/{x}"), ("GET", "/schema/{x}")}
)


def test_paths_with_nul_or_broken_escapes_are_400_or_404(
    fuzzed: tuple[Cluster, Api], trader: User
) -> None:
    cluster, _ = fuzzed
    port = cluster.config.gateway.port

    @given(template=st.sampled_from(_TEMPLATES), segment=_ODD_SEGMENT)
    @settings(max_examples=150, deadline=None, database=None)
    def refused(template: tuple[str, str], segment: str) -> None:
        method, path = template
        concrete = path.replace(path[path.index("{") : path.index("}") + 1], segment)
        headers = ADMIN if path.startswith("/api/v1/admin") else trader.headers
        body = b"{}" if method in ("POST", "PATCH") else None
        status, answer = _raw(port, method, concrete, headers, body)
        assert status in (400, 404), (concrete, status, answer)
        if "%00" in segment:
            assert status == 400 and answer["field"] == "path", (concrete, answer)

    refused()


def _head(size: int, count: int) -> bytes:
    lines = [b"GET /api/v1/markets HTTP/1.1", b"Host: x"]
    lines += [b"X-N: 1"] * count
    if size:
        lines.append(b"X-Pad: " + b"a" * size)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_heads_past_the_size_or_count_limit_are_431(fuzzed: tuple[Cluster, Api]) -> None:
    cluster, _ = fuzzed
    port = cluster.config.gateway.port

    @given(
        size=st.one_of(st.integers(0, MAX_HEAD - 200), st.integers(MAX_HEAD + 1, 4 << 20)),
        count=st.one_of(st.integers(0, MAX_HEADERS - 2), st.integers(MAX_HEADERS + 1, 3000)),
    )
    @settings(max_examples=30, deadline=None, database=None)
    def limited(size: int, count: int) -> None:
        head = _head(size, count)
        sock = dial(port)
        with contextlib.suppress(OSError):  # the gateway stopped reading: it has answered
            sock.sendall(head)
        sock.settimeout(10.0)
        answer = sock.recv(65536) if len(head) <= MAX_HEAD else read_until_closed(sock, 10.0)
        sock.close()
        too_large = len(head) > MAX_HEAD or count + 1 > MAX_HEADERS
        expected = b"HTTP/1.1 431 " if too_large else b"HTTP/1.1 200 "
        assert answer.startswith(expected), (len(head), count, answer[:120])

    limited()


def test_heads_and_bodies_cut_off_anywhere_are_closed_at_the_timeout(
    fuzzed: tuple[Cluster, Api], trader: User
) -> None:
    cluster, _ = fuzzed
    port = cluster.config.gateway.port
    body = b'{"asset":"USDT","amount":"1"}'
    request = (
        b"POST /api/v1/deposits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {trader.key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )

    @given(cuts=st.lists(st.integers(0, len(request) - 1), min_size=20, max_size=60))
    @settings(max_examples=3, deadline=None, database=None)
    def closed_in_time(cuts: list[int]) -> None:
        socks = [dial(port) for _ in cuts]
        for sock, cut in zip(socks, cuts, strict=True):
            sock.sendall(request[:cut])
            sock.setblocking(False)
        received = dict.fromkeys(socks, b"")
        still_open = set(socks)
        deadline = time.monotonic() + TIMEOUT_MS / 1000 + 10.0
        while still_open:
            assert time.monotonic() < deadline, f"{len(still_open)} connections still open"
            for sock in list(still_open):
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionError:
                    chunk = b""
                received[sock] += chunk
                if not chunk:
                    still_open.discard(sock)
            time.sleep(0.02)  # the poll's pace
        for sock, cut in zip(socks, cuts, strict=True):
            sock.close()
            # A request never whole is never answered but with the refusal; a
            # connection that sent nothing is closed without a word.
            expected = b"HTTP/1.1 408 " if cut else b""
            assert received[sock][: len(expected)] == expected, (cut, received[sock][:120])
            assert cut or not received[sock]

    closed_in_time()
