"""One request id follows a request from the HTTP client through the gateway, the
accounts shard and the engine, in every process's JSON log lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gateway_kit import exchange


def records(log: str, request_id: str) -> list[dict[str, object]]:
    found = []
    for line in log.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("request_id") == request_id:
                found.append(record)
    return found


def test_a_request_id_is_answered_and_logged_by_every_process_it_crosses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOURSE_LOG_LEVEL", "debug")
    with exchange(tmp_path) as (cluster, api):
        user = api.new_user(USDT="1000")
        headers = {**user.headers, "X-Request-Id": "order-7f3a"}
        body = {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "qty": "0.01"}
        answer = api.post("/api/v1/orders", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        assert answer.headers["x-request-id"] == "order-7f3a"

        shard = f"accounts-{int(user.user_id) >> 40}"
        for name in ("gateway", shard, "engine-BTC-USDT"):
            cluster.stop(name)  # stopping flushes and closes the log
            assert records(cluster.read_log(name), "order-7f3a"), name


def test_the_gateway_makes_a_request_id_when_the_client_gives_none_or_a_bad_one(
    tmp_path: Path,
) -> None:
    with exchange(tmp_path) as (_, api):
        plain = api.get("/api/v1/markets")
        spaced = api.get("/api/v1/markets", headers={"X-Request-Id": "has spaces in it"})
        for answer in (plain, spaced):
            assert answer.status_code == 200
            assert len(answer.headers["x-request-id"]) == 16
        assert plain.headers["x-request-id"] != spaced.headers["x-request-id"]


def test_answers_no_route_takes_carry_the_request_id_too(tmp_path: Path) -> None:
    with exchange(tmp_path) as (_, api):
        traced = {"X-Request-Id": "lost-9c1d"}
        unknown_path = api.get("/api/v1/nowhere", headers=traced)
        wrong_method = api.request("PUT", "/api/v1/markets", headers=traced)
        assert (unknown_path.status_code, wrong_method.status_code) == (404, 405)
        for answer in (unknown_path, wrong_method):
            assert answer.headers["x-request-id"] == "lost-9c1d"
            assert answer.headers.get_list("x-request-id") == ["lost-9c1d"]
        made = api.get("/api/v1/nowhere").headers["x-request-id"]
        assert len(made) == 16
        routed = api.get("/api/v1/markets", headers=traced)
        assert routed.headers.get_list("x-request-id") == ["lost-9c1d"], "added once"
