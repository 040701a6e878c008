"""Several hosts on one machine (loopback addresses 127.0.0.2-4), each started with
``bourse run --host``: users on shards of two hosts trade in a market whose engine runs on
a third, and a killed engine is brought back by its supervisor."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    CreateUser,
    Deposit,
    GetStatus,
    OrderReply,
    PlaceOrder,
    ShardStatus,
)
from actors.engine.protocol import EngineOutbound, EngineStatus, StatusQuery
from bourse.config import load_config
from harness.cluster import ROOT, free_ports
from transport.blocking import BlockingClient

HOSTS = {"match-a": "127.0.0.2", "match-b": "127.0.0.3", "engines": "127.0.0.4"}


def cluster_config(folder: Path) -> Path:
    ports = iter(free_ports(12))
    host_tables = "\n".join(
        f'[hosts.{name}]\naddress = "{address}"' for name, address in HOSTS.items()
    )
    text = f"""
[exchange]
open_signup = true
faucet = true
{host_tables}
[hosts.edge]
address = "127.0.0.5"
[assets.BTC]
decimals = 8
[assets.USDT]
decimals = 6
[markets.BTC-USDT]
base = "BTC"
quote = "USDT"
tick = "0.01"
lot = "0.0001"
min_notional = "1"
maker_fee = "0.001"
taker_fee = "0.002"
host = "engines"
router_port = {next(ports)}
pub_port = {next(ports)}
[[shards]]
host = "match-a"
router_port = {next(ports)}
pub_port = {next(ports)}
[[shards]]
host = "match-b"
router_port = {next(ports)}
pub_port = {next(ports)}
[gateway]
host = "edge"
port = {next(ports)}
[feed]
host = "edge"
router_port = {next(ports)}
ws_port = {next(ports)}
"""
    path = folder / "cluster.toml"
    path.write_text(text)
    return path


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[tuple[Path, dict[str, subprocess.Popen[bytes]]]]:
    config_path = cluster_config(tmp_path)
    env = dict(os.environ, BOURSE_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    supervisors = {}
    for host in HOSTS:
        log = (tmp_path / f"{host}.log").open("wb")
        supervisors[host] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "control.cli",
                "--config",
                str(config_path),
                "run",
                "--host",
                host,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield config_path, supervisors
    finally:
        for supervisor in supervisors.values():
            supervisor.send_signal(signal.SIGTERM)
        for supervisor in supervisors.values():
            try:
                supervisor.wait(15)
            except subprocess.TimeoutExpired:
                supervisor.kill()


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


def started_pids(log: Path, process: str) -> list[int]:
    pids = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("msg") == "started" and record.get("process") == process:
                pids.append(int(record["pid"]))
    return pids


def test_hosts_trade_across_machines_and_a_killed_engine_comes_back(
    hosts: tuple[Path, dict[str, subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    import zmq

    config_path, _ = hosts
    config = load_config(config_path)
    context: zmq.Context[bytes] = zmq.Context()
    engine = BlockingClient(context, config.engines["BTC-USDT"].router.connect)
    shards = [BlockingClient(context, shard.router.connect) for shard in config.shards]
    assert isinstance(wait_for(engine, StatusQuery(), EngineOutbound, 30), EngineStatus)
    for shard in shards:
        assert isinstance(wait_for(shard, GetStatus(), AccountsReply, 30), ShardStatus)
    assert config.engines["BTC-USDT"].router.address == "127.0.0.4"
    assert [s.router.address for s in config.shards] == ["127.0.0.2", "127.0.0.3"]

    key = hashlib.sha256(b"key").digest()
    auths = []
    for shard in shards:
        reply = shard.call(CreateUser(key), AccountsReply)
        auths.append(Auth(reply.user_id, key))
    shards[0].call(Deposit(auths[0], "USDT", 100_000_000_000), AccountsReply)
    shards[1].call(Deposit(auths[1], "BTC", 100_000_000), AccountsReply)

    def trade() -> None:
        bid = shards[0].call(
            PlaceOrder(auths[0], "BTC-USDT", "buy", "limit", price=20_000_000_000, qty=10_000),
            AccountsReply,
        )
        assert isinstance(bid, OrderReply) and bid.order.status == "new", bid
        ask = shards[1].call(
            PlaceOrder(auths[1], "BTC-USDT", "sell", "limit", price=20_000_000_000, qty=10_000),
            AccountsReply,
        )
        assert isinstance(ask, OrderReply) and ask.order.status == "filled", ask

    trade()

    log = tmp_path / "engines.log"
    (first_pid,) = started_pids(log, "engine-BTC-USDT")
    os.kill(first_pid, signal.SIGKILL)
    engine.close()
    engine = BlockingClient(context, config.engines["BTC-USDT"].router.connect)
    status = wait_for(engine, StatusQuery(), EngineOutbound, 30)  # only a new engine answers
    assert isinstance(status, EngineStatus) and status.commands == 2  # recovered from disk
    assert len(started_pids(log, "engine-BTC-USDT")) == 2
    assert "process exited; restarting after back-off" in log.read_text()
    trade()
    context.destroy(linger=0)
