"""Four hosts, each in a network namespace of its own with only its own secret keys, each
started with ``bourse run --host``; every link between them is CURVE-encrypted.  Users on
shards of two hosts trade over HTTP through the edge host in a market whose engine runs on
a third, and a killed engine is brought back by its supervisor."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from actors.engine.protocol import EngineOutbound, EngineStatus, StatusQuery
from harness.hostcluster import HostCluster, Layout, host_cluster
from transport.blocking import BlockingClient

LAYOUT = Layout(
    markets={"BTC-USDT": "engines"},
    shards=["match-a", "match-b"],
    edge="edge",
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[HostCluster]:
    with host_cluster(tmp_path, LAYOUT) as running:
        for host in LAYOUT.host_names():
            running.start_host(host)
        yield running


def wait_for(
    client: BlockingClient, message: object, reply_type: object, deadline_s: float
) -> object:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return client.call(message, reply_type, timeout_s=0.3)
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


def new_user(api: httpx.Client, asset: str, amount: str) -> dict[str, str]:
    created = api.post("/api/v1/users")
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['api_key']}"}
    funded = api.post("/api/v1/deposits", json={"asset": asset, "amount": amount}, headers=headers)
    assert funded.status_code == 200, funded.text
    return headers


def test_hosts_trade_across_machines_and_a_killed_engine_comes_back(
    cluster: HostCluster,
) -> None:
    health = cluster.wait_healthy()
    assert [s["up"] for s in health["shards"]] == [True, True]
    config = cluster.config
    if cluster.network.isolated:
        assert config.engines["BTC-USDT"].router.address.startswith("10.")
    with cluster.api() as api:
        buyer = new_user(api, "USDT", "100000")
        seller = new_user(api, "BTC", "1")
        assert buyer["Authorization"] != seller["Authorization"]

        def trade() -> None:
            order = {"market": "BTC-USDT", "type": "limit", "price": "20000.00", "qty": "0.0010"}
            bid = api.post("/api/v1/orders", json={**order, "side": "buy"}, headers=buyer)
            assert bid.status_code == 201 and bid.json()["status"] == "new", bid.text
            ask = api.post("/api/v1/orders", json={**order, "side": "sell"}, headers=seller)
            assert ask.status_code == 201 and ask.json()["status"] == "filled", ask.text

        trade()

        engine_process = config.engines["BTC-USDT"]
        (first_pid,) = cluster.started_pids("engines", engine_process.name)
        os.kill(first_pid, signal.SIGKILL)
        engine = cluster.client(engine_process.name, engine_process.router.connect, "operator")
        status = wait_for(engine, StatusQuery(), EngineOutbound, 30)  # a new engine answers
        engine.close()
        assert isinstance(status, EngineStatus) and status.commands == 2  # from its journal
        assert len(cluster.started_pids("engines", engine_process.name)) == 2
        assert "process exited; restarting after back-off" in cluster.log("engines").read_text()
        cluster.wait_healthy()
        trade()
        balances = api.get("/api/v1/balances", headers=seller).json()
        btc = next(b for b in balances if b["asset"] == "BTC")
        assert btc == {"asset": "BTC", "free": "0.99800000", "locked": "0.00000000"}
