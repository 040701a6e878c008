"""Sign-up, keys, deposits, withdrawals and balances over HTTP."""

from __future__ import annotations

from collections.abc import Callable

from gateway_kit import ADMIN, Api, User, auth, error, shard_of

Users = Callable[..., User]


def test_sign_up_gives_a_key_once_and_spreads_users_over_shards(api: Api) -> None:
    answers = [api.post("/api/v1/users") for _ in range(4)]
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert all(set(b) == {"user_id", "api_key"} for b in bodies)
    assert all(b["api_key"].startswith(b["user_id"] + ".") for b in bodies)
    assert {shard_of(b["user_id"]) for b in bodies} == {0, 1}
    balances = api.get("/api/v1/balances", headers=auth(bodies[0]["api_key"]))
    assert balances.status_code == 200
    assert balances.json() == [
        {"asset": "BTC", "free": "0.00000000", "locked": "0.00000000"},
        {"asset": "ETH", "free": "0.00000000", "locked": "0.00000000"},
        {"asset": "USDT", "free": "0.000000", "locked": "0.000000"},
    ]


def test_keys_are_checked(api: Api, users: Users) -> None:
    alice = users()
    wrong_secret = auth(alice.user_id + ".not-the-secret")
    for headers in (
        {},
        {"Authorization": alice.key},
        {"Authorization": f"Basic {alice.key}"},
        {"Authorization": "Bearer"},
        auth("no-dot"),
        auth("abc.def"),
        auth(f"{1 << 60}.secret"),
        # a digit to str.isdigit, not to int(); sent as latin-1 bytes as HTTP allows
        {"Authorization": "Bearer \u00b2.secret".encode("latin-1")},
        auth("999.secret"),
        wrong_secret,
        ADMIN,
    ):
        error(api.get("/api/v1/balances", headers=headers), 401, "UNAUTHENTICATED")
    lower = {"authorization": "bearer " + alice.key}
    assert api.get("/api/v1/balances", headers=lower).status_code == 200


def test_deposits_and_withdrawals_move_the_free_balance(api: Api, users: Users) -> None:
    alice = users()
    credited = api.post(
        "/api/v1/deposits", json={"asset": "BTC", "amount": "1.5"}, headers=alice.headers
    )
    assert credited.status_code == 200, credited.text
    assert credited.json() == {"asset": "BTC", "free": "1.50000000", "locked": "0.00000000"}
    taken = api.post(
        "/api/v1/withdrawals", json={"asset": "BTC", "amount": "0.25"}, headers=alice.headers
    )
    assert taken.status_code == 200, taken.text
    assert taken.json() == {"asset": "BTC", "free": "1.25000000", "locked": "0.00000000"}
    too_much = api.post(
        "/api/v1/withdrawals", json={"asset": "BTC", "amount": "2"}, headers=alice.headers
    )
    error(too_much, 422, "INSUFFICIENT_FUNDS", "amount")
    assert api.balances(alice)["BTC"] == ("1.25000000", "0.00000000")

    own = {"asset": "USDT", "amount": "5", "user_id": alice.user_id}
    assert api.post("/api/v1/deposits", json=own, headers=alice.headers).status_code == 200


def test_amounts_and_assets_are_checked(api: Api, users: Users) -> None:
    alice = users(USDT="10")
    for path in ("/api/v1/deposits", "/api/v1/withdrawals"):
        cases = [
            ({"asset": "DOGE", "amount": "1"}, "UNKNOWN_ASSET", "asset"),
            ({"asset": "USDT", "amount": "0"}, "NOT_POSITIVE", "amount"),
            ({"asset": "USDT", "amount": "-1"}, "NOT_POSITIVE", "amount"),
            ({"asset": "USDT", "amount": "0.0000001"}, "TOO_PRECISE", "amount"),
            ({"asset": "USDT", "amount": "9" * 20}, "OUT_OF_RANGE", "amount"),
            ({"asset": "USDT", "amount": "1,5"}, "INVALID_FIELD", "amount"),
            ({"asset": "USDT", "amount": 1}, "INVALID_FIELD", "amount"),
            ({"asset": "USDT"}, "INVALID_FIELD", "amount"),
            ({"asset": "USDT", "amount": "1", "memo": "x"}, "INVALID_FIELD", "memo"),
        ]
        for body, code, field in cases:
            error(api.post(path, json=body, headers=alice.headers), 400, code, field)
    assert api.balances(alice)["USDT"] == ("10.000000", "0.000000")


def test_the_admin_key_credits_anyone_and_only_it_does(api: Api, users: Users) -> None:
    alice = users()
    bob = users()
    body = {"asset": "ETH", "amount": "3", "user_id": alice.user_id}
    credited = api.post("/api/v1/deposits", json=body, headers=ADMIN)
    assert credited.status_code == 200, credited.text
    assert api.balances(alice)["ETH"] == ("3.00000000", "0.00000000")
    error(api.post("/api/v1/deposits", json=body, headers=bob.headers), 403, "FORBIDDEN", "user_id")
    assert api.balances(alice)["ETH"] == ("3.00000000", "0.00000000")
    nobody = {"asset": "ETH", "amount": "3", "user_id": "12345"}
    error(
        api.post("/api/v1/deposits", json=nobody, headers=ADMIN), 404, "USER_NOT_FOUND", "user_id"
    )
    far = {"asset": "ETH", "amount": "3", "user_id": str(7 << 40)}
    error(api.post("/api/v1/deposits", json=far, headers=ADMIN), 404, "USER_NOT_FOUND", "user_id")
    unnamed = {"asset": "ETH", "amount": "3"}
    error(
        api.post("/api/v1/deposits", json=unnamed, headers=ADMIN), 400, "INVALID_FIELD", "user_id"
    )
    error(api.post("/api/v1/withdrawals", json=unnamed, headers=ADMIN), 401, "UNAUTHENTICATED")
