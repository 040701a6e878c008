"""Gateway workers (``gateway.workers = 2``, processes uvicorn spawns) write the same JSON
log lines as every process, each naming its worker, with the request id of every request
it logs: a 5xx at the default level, every request at debug."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gateway_kit import exchange


def test_gateway_workers_log_json_lines_with_request_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOURSE_LOG_LEVEL", "debug")
    with exchange(tmp_path, replace={"workers = 1": "workers = 2"}) as (c, api):
        assert c.config.raw.gateway.workers == 2
        ids = [f"worker-check-{n}" for n in range(40)]
        for request_id in ids:
            answer = api.get("/api/v1/markets", headers={"X-Request-Id": request_id})
            assert answer.status_code == 200
        c.stop("engine-BTC-USDT")
        user = api.new_user(USDT="1000")
        body = {"market": "BTC-USDT", "side": "buy", "type": "limit", "price": "100", "qty": "0.01"}
        headers = {**user.headers, "X-Request-Id": "engine-gone-1"}
        assert api.post("/api/v1/orders", json=body, headers=headers).status_code == 503
        c.stop("gateway")  # flushes and closes the log
        text = c.logs["gateway"].read_text()  # the whole log, not its tail
        lines = [line for line in text.splitlines() if line.strip()]
    records = []
    for line in lines:
        assert line.startswith("{"), f"not a JSON line: {line!r}"
        records.append(json.loads(line))
    logged = {r["request_id"]: r for r in records if "request_id" in r}
    for request_id in ids:
        record = logged[request_id]
        assert record["process"] == "gateway" and record["msg"] == "request"
        assert record["path"] == "/api/v1/markets" and record["status"] == 200
        assert isinstance(record["worker"], int)
    failed = logged["engine-gone-1"]
    assert failed["level"] == "warning" and failed["status"] == 503 and "worker" in failed
    workers = {r["worker"] for r in records if "worker" in r}
    assert workers, "every worker's lines name it"
