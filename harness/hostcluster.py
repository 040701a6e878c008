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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import zmq

from actors.accounts.protocol import AccountsReply, GetStatus
from actors.engine.protocol import EngineOutbound, StatusQuery
from actors.replication import PairStatus
from bourse.config import Config, EngineProcess, ShardProcess, load_config
from bourse.peers import OPERATOR, admits
from harness.cluster import ROOT
from harness.etcd import etcd
from harness.netns import Hosts, hosts
from transport.blocking import BlockingClient
from transport.security import BusSecurity

ADMIN_KEY = "hosts-admin-key"
GATEWAY_PORT = 8000
FEED_PORTS = (7301, 8001)
FIRST_PORT = 7100  # each engine or shard instance takes the next ten ports of its host

Placed = str | tuple[str, str]  # a host, or (primary's host, standby's host)


@dataclass(frozen=True)
class Layout:
    """Where each process runs: market -> host(s), shard k -> host(s) (a pair of hosts
    places a primary and its standby), and the edge host of the gateway and the feed."""

    markets: dict[str, Placed]
    shards: list[Placed]
    edge: str
    exchange: str = ""  # more [exchange] lines
    journal: str = ""  # more [journal] lines

    def host_names(self) -> list[str]:
        names: list[str] = []
        for placed in [*self.markets.values(), *self.shards]:
            names += [placed] if isinstance(placed, str) else list(placed)
        return list(dict.fromkeys([*names, self.edge]))

    @property
    def standbys(self) -> bool:
        return any(not isinstance(p, str) for p in [*self.markets.values(), *self.shards])


class _Ports:
    def __init__(self) -> None:
        self._used: dict[str, int] = {}

    def block(self, host: str) -> tuple[int, int, int, int]:
        """router, pub, metrics and repl ports for the next instance on ``host``."""
        n = self._used.get(host, 0)
        self._used[host] = n + 1
        first = FIRST_PORT + 10 * n
        return first, first + 1, first + 2, first + 3


def _placement(ports: _Ports, placed: Placed) -> list[str]:
    """The host/port lines of one engine or shard, with its standby if it has one."""
    primary, standby = (placed, None) if isinstance(placed, str) else placed
    router, pub, metrics, repl = ports.block(primary)
    lines = [
        f'host = "{primary}"',
        f"router_port = {router}\npub_port = {pub}\nmetrics_port = {metrics}",
    ]
    if standby is not None:
        s_router, s_pub, s_metrics, s_repl = ports.block(standby)
        lines += [
            f"repl_port = {repl}",
            f'standby = {{ host = "{standby}", router_port = {s_router}, pub_port = {s_pub}, '
            f"repl_port = {s_repl}, metrics_port = {s_metrics} }}",
        ]
    return lines


def config_text(layout: Layout, addresses: dict[str, str], coordinator: str = "") -> str:
    lines = [
        "[exchange]",
        "open_signup = true",
        "faucet = true",
        f'admin_key_sha256 = "{hashlib.sha256(ADMIN_KEY.encode()).hexdigest()}"',
        "request_timeout_ms = 3000",
        "rate_limit_per_s = 100000",
        "rate_limit_burst = 100000",
        layout.exchange,
        "[journal]",
        layout.journal,
    ]
    if coordinator:
        lines += ["[coordinator]", f'endpoints = ["{coordinator}"]']
    for host in layout.host_names():
        lines += [f"[hosts.{host}]", f'address = "{addresses[host]}"']
    lines += ["[assets.BTC]", "decimals = 8", "[assets.ETH]", "decimals = 8"]
    lines += ["[assets.USDT]", "decimals = 6"]
    lots = {"BTC": "0.0001", "ETH": "0.001"}
    ports = _Ports()
    for market, placed in layout.markets.items():
        base = market.split("-")[0]
        lines += [
            f"[markets.{market}]",
            f'base = "{base}"\nquote = "USDT"\ntick = "0.01"\nlot = "{lots[base]}"',
            'min_notional = "1"\nmaker_fee = "0.001"\ntaker_fee = "0.002"',
            *_placement(ports, placed),
        ]
    for placed in layout.shards:
        lines += ["[[shards]]", *_placement(ports, placed)]
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

    def pair_status(self, name: str, timeout_s: float = 10.0) -> PairStatus:
        """The status of the engine or shard ``name`` as its leader reports it."""
        pair = self._pair(name)
        client = BlockingClient(self.context, pair.routers, self.security(OPERATOR))
        engine = name.startswith("engine-")
        query: object = StatusQuery() if engine else GetStatus()
        reply_type: object = EngineOutbound if engine else AccountsReply
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    reply = client.call(query, reply_type, 0.5)
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise
                    continue
                status = getattr(reply, "pair", None)
                assert isinstance(status, PairStatus), reply
                return status
        finally:
            client.close()

    def leader(self, name: str) -> tuple[str, str, int]:
        """The instance that leads the pair ``name``, its host, and its process id."""
        instance = self.pair_status(name).instance
        host = next(i.host for i in self._pair(name).instances if i.name == instance)
        return instance, host, self.started_pids(host, instance)[-1]

    def _pair(self, name: str) -> EngineProcess | ShardProcess:
        config = self.config
        pairs: list[EngineProcess | ShardProcess] = [*config.engines.values(), *config.shards]
        for pair in pairs:
            if pair.name == name:
                return pair
        raise KeyError(name)

    def close(self) -> None:
        for host in list(self.supervisors):
            self.stop_host(host)
        self.context.destroy(linger=0)


@contextmanager
def host_cluster(folder: Path, layout: Layout) -> Iterator[HostCluster]:
    """Keys made on the operator's machine and bundled to each host, nothing started."""
    with hosts(layout.host_names()) as network, ExitStack() as stack:
        coordinator = ""
        if layout.standbys:  # etcd runs where the operator is, on the hosts' network
            server = stack.enter_context(etcd(folder / "etcd", network.outside))
            coordinator = server.endpoint
        config_path = folder / "cluster.toml"
        config_path.write_text(config_text(layout, network.addresses, coordinator))
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
