"""Rate limits keyed on who the caller really is, the body size limit and CORS, on an
exchange configured tight; failed authentications slowed down, then refused."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from gateway_kit import ADMIN, Api, User, client, error, exchange, refused, wait_until

from harness.cluster import Cluster

BURST = 8
SIGNUPS = 5
ADMIN_BURST = 6
ORIGIN = "http://ui.example"


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    replace = {
        "rate_limit_per_s = 100000": "rate_limit_per_s = 1",
        "rate_limit_burst = 100000": f"rate_limit_burst = {BURST}",
        '[gateway]\nhost = "local"': (
            f'[gateway]\ncors_origins = ["{ORIGIN}"]\nmax_body_bytes = 1024\nhost = "local"'
        ),
        "signup_per_s = 100000\nsignup_burst = 100000": (
            f"signup_per_s = 0.01\nsignup_burst = {SIGNUPS}"
        ),
        "admin_per_s = 100000\nadmin_burst = 100000": (
            f"admin_per_s = 0.01\nadmin_burst = {ADMIN_BURST}"
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


def _sign_up(api: Api, source: str) -> User:
    with client(api.base_url, source) as http:
        created = http.post("/api/v1/users")
    assert created.status_code == 201, created.text
    return User(created.json()["user_id"], created.json()["api_key"])


def test_limits_apply_per_user_then_per_address(tight: tuple[Cluster, Api]) -> None:
    _, api = tight
    # Each test user signs up from an address of its own: sign-ups are limited per address.
    alice, bob, carol = (_sign_up(api, f"127.0.1.{i}") for i in range(1, 4))

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

    # Wrong secrets for bob's id are refused and cost bob nothing: he still has his burst.
    with client(api.base_url, "127.0.2.1") as guesser:
        for attempt in range(3 * BURST):
            wrong = {"Authorization": f"Bearer {bob.user_id}.wrong{attempt}"}
            error(guesser.get("/api/v1/balances", headers=wrong), 401, "UNAUTHENTICATED")
    # An id written with leading zeros is not bob: refused, whatever the secret.
    padded = {"Authorization": f"Bearer 000{bob.key}"}
    error(api.get("/api/v1/balances", headers=padded), 401, "UNAUTHENTICATED")
    served = _until_limited(api.http, "/api/v1/balances", bob.headers)
    assert BURST - 1 <= served <= BURST + 3, served

    # A user's bucket follows the user, from any address; another user is not affected.
    with client(api.base_url, "127.0.2.2") as elsewhere:
        served = _until_limited(elsewhere, "/api/v1/balances", alice.headers)
    assert BURST - 1 <= served <= BURST + 3, served
    error(api.get("/api/v1/balances", headers=alice.headers), 429, "RATE_LIMITED")
    assert api.get("/api/v1/balances", headers=carol.headers).status_code == 200

    # Without a key, and on public routes whatever the key, the address has the bucket:
    # made-up tokens buy no fresh allowance.
    with client(api.base_url, "127.0.2.3") as anonymous:
        served = _until_limited(anonymous, "/api/v1/markets", {})
        assert served <= BURST + 3
        junk = {"Authorization": "Bearer junk1"}
        error(anonymous.get("/api/v1/markets", headers=junk), 429, "RATE_LIMITED")
        error(anonymous.get("/api/v1/markets", headers=carol.headers), 429, "RATE_LIMITED")
    assert api.get("/api/v1/balances", headers=carol.headers).status_code == 200
    assert api.get("/schema/openapi.json").status_code == 200
    assert api.get("/").status_code == 200

    counted = refused(f"{api.base_url}/metrics")
    assert counted["rate_limited_user"] >= 2
    assert counted["rate_limited_address"] >= 3
    assert counted["auth_failed"] >= 3 * BURST + 1


def test_sign_ups_and_the_admin_key_have_budgets_per_address(tight: tuple[Cluster, Api]) -> None:
    _, api = tight
    with client(api.base_url, "127.0.3.1") as signer:
        answers = [
            signer.post("/api/v1/users", headers={"Authorization": f"Bearer junk{n}"})
            for n in range(3 * SIGNUPS)
        ]
    created = [a for a in answers if a.status_code == 201]
    assert len(created) == SIGNUPS, [a.status_code for a in answers]
    for answer in answers[SIGNUPS:]:
        error(answer, 429, "RATE_LIMITED")
    # Another address signs up.
    _sign_up(api, "127.0.3.2")

    with client(api.base_url, "127.0.3.3") as operator:
        served = _until_limited(operator, "/api/v1/admin/totals", ADMIN)
    assert ADMIN_BURST - 1 <= served <= ADMIN_BURST + 1, served
    assert api.get("/api/v1/admin/totals", headers=ADMIN).status_code == 200
    counted = refused(f"{api.base_url}/metrics")
    assert counted["rate_limited_signup"] >= 2 * SIGNUPS
    assert counted["rate_limited_admin"] >= 1


SLOW_AFTER, BLOCK_AFTER, DELAY_MS, BLOCK_MS = 3, 6, 400, 3000


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    replace = {
        "slow_after = 1000000\nblock_after = 1000000": (
            f"slow_after = {SLOW_AFTER}\nblock_after = {BLOCK_AFTER}\ndelay_ms = {DELAY_MS}\n"
            f"block_ms = {BLOCK_MS}\nforget_ms = 600000"
        ),
    }
    with exchange(tmp_path_factory.mktemp("guarded"), replace=replace) as pair:
        yield pair


def test_failed_authentications_are_slowed_then_refused(guarded: tuple[Cluster, Api]) -> None:
    _, api = guarded
    victim = api.new_user()
    with client(api.base_url, "127.0.4.1") as guesser:
        _guess_until_blocked(api, guesser, victim)


def _guess_until_blocked(api: Api, guesser: httpx.Client, victim: User) -> None:
    took: list[float] = []
    for attempt in range(BLOCK_AFTER):
        token = {"Authorization": f"Bearer {victim.user_id}.guess{attempt}"}
        started = time.monotonic()
        error(guesser.get("/api/v1/balances", headers=token), 401, "UNAUTHENTICATED")
        took.append(time.monotonic() - started)
    assert all(t < DELAY_MS / 1000 for t in took[:SLOW_AFTER]), took
    assert all(t >= DELAY_MS / 1000 for t in took[SLOW_AFTER:]), took

    # Blocked: every call with a token from that address, the right key and the admin
    # key included, is refused before its key is looked at.
    for headers in ({"Authorization": "Bearer 1.x"}, victim.headers, ADMIN):
        answer = guesser.get("/api/v1/balances", headers=headers)
        error(answer, 429, "RATE_LIMITED")
        assert 1 <= int(answer.headers["retry-after"]) <= BLOCK_MS // 1000
    # Public data is still served to it, and the victim is served elsewhere.
    assert guesser.get("/api/v1/markets").status_code == 200
    assert api.get("/api/v1/balances", headers=victim.headers).status_code == 200

    # The block ends: the right key is served again.
    wait_until(
        lambda: guesser.get("/api/v1/balances", headers=victim.headers).status_code == 200,
        BLOCK_MS / 1000 + 10.0,
        "the block ends",
    )
    # Guessing the admin key from another address ends the same way.
    with client(api.base_url, "127.0.4.2") as admin_guesser:
        for attempt in range(BLOCK_AFTER):
            guess = {"Authorization": f"Bearer admin-guess-{attempt}"}
            answer = admin_guesser.get("/api/v1/admin/totals", headers=guess)
            error(answer, 401, "UNAUTHENTICATED")
        answer = admin_guesser.get("/api/v1/admin/totals", headers=ADMIN)
        error(answer, 429, "RATE_LIMITED")
    counted = refused(f"{api.base_url}/metrics")
    assert counted["auth_failed"] >= 2 * BLOCK_AFTER
    assert counted["auth_blocked"] >= 4
