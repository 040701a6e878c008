"""Rate limits, the body size limit and CORS, on an exchange configured tight."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from gateway_kit import Api, error, exchange

from harness.cluster import Cluster

BURST = 8
ORIGIN = "http://ui.example"


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    replace = {
        "rate_limit_per_s = 100000": "rate_limit_per_s = 1",
        "rate_limit_burst = 100000": f"rate_limit_burst = {BURST}",
        '[gateway]\nhost = "local"': (
            f'[gateway]\ncors_origins = ["{ORIGIN}"]\nmax_body_bytes = 1024\nhost = "local"'
        ),
    }
    with exchange(tmp_path_factory.mktemp("tight"), replace=replace) as pair:
        yield pair


def _until_limited(send: httpx.Client, path: str, headers: dict[str, str]) -> int:
    """Requests that were served before the first 429 (which must come)."""
    for served in range(200):
        answer = send.get(path, headers=headers)
        if answer.status_code == 429:
            error(answer, 429, "RATE_LIMITED")
            assert int(answer.headers["retry-after"]) >= 1
            return served
        assert answer.status_code == 200, answer.text
    raise AssertionError("never limited")


def test_limits_apply_per_key_then_per_address(tight: tuple[Cluster, Api]) -> None:
    _, api = tight
    alice, bob, carol = api.new_user(), api.new_user(), api.new_user()

    # CORS: the configured origin is answered, another is not.
    preflight = api.request(
        "OPTIONS",
        "/api/v1/orders",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code in (200, 204), preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    simple = api.get("/api/v1/balances", headers={**carol.headers, "Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    other = api.get("/api/v1/balances", headers={**carol.headers, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers

    # Bodies past gateway.max_body_bytes.
    big = {"asset": "USDT", "amount": "1" + "0" * 2000}
    error(api.post("/api/v1/deposits", json=big, headers=carol.headers), 413, "PAYLOAD_TOO_LARGE")

    # A key's bucket: about BURST requests at once, then 429; another key is not affected.
    served = _until_limited(api.http, "/api/v1/balances", alice.headers)
    assert BURST - 1 <= served <= BURST + 3, served
    assert api.get("/api/v1/balances", headers=bob.headers).status_code == 200
    wrong = {"Authorization": f"Bearer {alice.user_id}.wrong"}
    error(api.get("/api/v1/balances", headers=wrong), 401, "UNAUTHENTICATED")

    # Without a key, the client address has the bucket.
    _until_limited(api.http, "/api/v1/markets", {})
    error(api.post("/api/v1/users"), 429, "RATE_LIMITED")
    assert api.get("/api/v1/balances", headers=bob.headers).status_code == 200
    assert api.get("/schema/openapi.json").status_code == 200
    assert api.get("/").status_code == 200
