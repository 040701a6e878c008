"""An exchange spread over several hosts on one machine, as an operator would run it.

Each host is a network namespace (harness/netns.py) running ``bourse run --host NAME``
with a data folder of its own, holding only what ``bourse keys bundle`` gives that host:
every public key and its own processes' secret keys.  The test stands where the operator
does: on the network, with every key (``operator_keys``), so it can speak as any process.

Invariants:
- Ports are fixed per role (every host has its own addresses), so a config is the same
  text whatever the namespaces' addresses are.
- ``close`` stops every supervisor (SIGTERM, then SIGKILL) before the namespaces go.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import zmq

from bourse.config import Config, load_config
from bourse.peers import admits
from harness.cluster import ROOT
from harness.netns import Hosts, hosts
from transport.blocking import BlockingClient
from transport.security import BusSecurity

ADMIN_KEY = "hosts-admin-key"
ENGINE_PORTS = (7101, 7102, 9101)
SHARD_PORTS = (7201, 7202, 9201)
GATEWAY_PORT = 8000
FEED_PORTS = (7301, 8001)


@dataclass(frozen=True)
class Layout:
    """Where each process runs: market -> host, shard k -> host, and the edge host of the
    gateway and the feed."""

    markets: dict[str, str]
    shards: list[str]
    edge: str
    exchange: str = ""  # more [exchange] lines

    def host_names(self) -> list[str]:
        names = [*self.markets.values(), *self.shards, self.edge]
        return list(dict.fromkeys(names))


def config_text(layout: Layout, addresses: dict[str, str]) -> str:
    lines = [
        "[exchange]",
        "open_signup = true",
        "faucet = true",
        f'admin_key_sha256 = "{hashlib.sha256(ADMIN_KEY.encode()).hexdigest()}"',
        "request_timeout_ms = 3000",
        "rate_limit_per_s = 100000",
        "rate_limit_burst = 100000",
        layout.exchange,
    ]
    for host in layout.host_names():
        lines += [f"[hosts.{host}]", f'address = "{addresses[host]}"']
    lines += ["[assets.BTC]", "decimals = 8", "[assets.ETH]", "decimals = 8"]
    lines += ["[assets.USDT]", "decimals = 6"]
    lots = {"BTC": "0.0001", "ETH": "0.001"}
    used: dict[str, int] = {}
    for market, host in layout.markets.items():
        base = market.split("-")[0]
        offset = 10 * used.get(host, 0)
        used[host] = used.get(host, 0) + 1
        router, pub, metrics = (port + offset for port in ENGINE_PORTS)
        lines += [
            f"[markets.{market}]",
            f'base = "{base}"\nquote = "USDT"\ntick = "0.01"\nlot = "{lots[base]}"',
            'min_notional = "1"\nmaker_fee = "0.001"\ntaker_fee = "0.002"',
            f'host = "{host}"\nrouter_port = {router}\npub_port = {pub}\nmetrics_port = {metrics}',
        ]
    for host in layout.shards:
        offset = 10 * used.get(f"shard:{host}", 0)
        used[f"shard:{host}"] = used.get(f"shard:{host}", 0) + 1
        router, pub, metrics = (port + offset for port in SHARD_PORTS)
        lines += [
            "[[shards]]",
            f'host = "{host}"\nrouter_port = {router}\npub_port = {pub}\nmetrics_port = {metrics}',
        ]
    lines += [f'[gateway]\nhost = "{layout.edge}"\nport = {GATEWAY_PORT}']
    router, ws = FEED_PORTS
    lines += [f'[feed]\nhost = "{layout.edge}"\nrouter_port = {router}\nws_port = {ws}']
    return "\n".join(lines) + "\n"


def _bourse(config: Path, *args: str, data: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "control.cli", "--config", str(config), *args],
        cwd=ROOT,
        env=dict(os.environ, BOURSE_DATA_DIR=str(data)),
        check=True,
        capture_output=True,
    )


@dataclass
class HostCluster:
    folder: Path
    layout: Layout
    network: Hosts
    config_path: Path
    config: Config
    supervisors: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    context: zmq.Context[Any] = field(default_factory=zmq.Context)

    @property
    def operator_data(self) -> Path:
        return self.folder / "operator"

    @property
    def operator_keys(self) -> Path:
        return self.operator_data / "keys"

    def data(self, host: str) -> Path:
        return self.folder / host

    def log(self, host: str) -> Path:
        return self.folder / f"{host}.log"

    def start_host(self, host: str) -> None:
        log = self.log(host).open("ab")
        argv = [sys.executable, "-m", "control.cli", "--config", str(self.config_path)]
        self.supervisors[host] = subprocess.Popen(
            self.network.command(host, [*argv, "run", "--host", host]),
            cwd=ROOT,
            env=dict(os.environ, BOURSE_DATA_DIR=str(self.data(host)), PYTHONUNBUFFERED="1"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop_host(self, host: str, timeout_s: float = 15.0) -> None:
        supervisor = self.supervisors.pop(host, None)
        if supervisor is None:
            return
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(timeout_s)
        except subprocess.TimeoutExpired:
            supervisor.kill()
            supervisor.wait()

    def security(self, process: str) -> BusSecurity:
        return BusSecurity(self.operator_keys, process, admits, [])

    def client(self, target: str, endpoint: str, speaking_as: str) -> BlockingClient:
        return BlockingClient(self.context, [(endpoint, target)], self.security(speaking_as))

    def api(self) -> httpx.Client:
        gateway = self.config.gateway
        return httpx.Client(base_url=f"http://{gateway.address}:{gateway.port}", timeout=10.0)

    def wait_healthy(self, deadline_s: float = 60.0) -> dict[str, Any]:
        """Until the gateway says every actor answers."""
        deadline = time.monotonic() + deadline_s
        last: object = None
        with self.api() as api:
            while time.monotonic() < deadline:
                try:
                    answer = api.get("/api/v1/health", timeout=2.0)
                    last = answer.text
                    if answer.status_code == 200 and answer.json().get("ok") is True:
                        health: dict[str, Any] = answer.json()
                        return health
                except httpx.HTTPError as error:
                    last = error
                time.sleep(0.2)  # polling a real condition: the health of every actor
        raise TimeoutError(f"the cluster did not become healthy: {last}")

    def started_pids(self, host: str, process: str) -> list[int]:
        pids = []
        for line in self.log(host).read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("msg") == "started" and record.get("process") == process:
                    pids.append(int(record["pid"]))
        return pids

    def close(self) -> None:
        for host in list(self.supervisors):
            self.stop_host(host)
        self.context.destroy(linger=0)


@contextmanager
def host_cluster(folder: Path, layout: Layout) -> Iterator[HostCluster]:
    """Keys made on the operator's machine and bundled to each host, nothing started."""
    with hosts(layout.host_names()) as network:
        config_path = folder / "cluster.toml"
        config_path.write_text(config_text(layout, network.addresses))
        running = HostCluster(folder, layout, network, config_path, load_config(config_path))
        try:
            _bourse(config_path, "keys", "init", data=running.operator_data)
            for host in layout.host_names():
                bundle = running.data(host) / "keys"
                _bourse(
                    config_path, "keys", "bundle", "--host", host, "--out", str(bundle),
                    data=running.operator_data,
                )  # fmt: skip
            yield running
        finally:
            running.close()
