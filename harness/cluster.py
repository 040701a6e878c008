"""Real processes for tests and benchmarks: a config on free ports, processes started and stopped.

Invariants:
- Every cluster gets its own config file, data folder and free ports on 127.0.0.1, so
  tests never share state with each other or with a running ``make run``.
- Readiness is a real condition (the process answers a status request), polled with a
  deadline; stopping is SIGTERM, then SIGKILL past a deadline.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from actors.accounts.protocol import AccountsReply, GetStatus
from actors.engine.protocol import EngineOutbound, StatusQuery
from bourse.config import Config, load_config
from bourse.peers import FEED, GATEWAY, OPERATOR, admits
from transport.blocking import BlockingClient
from transport.keys import ensure_pairs
from transport.security import BusSecurity

ROOT = Path(__file__).resolve().parent.parent


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int) -> list[int]:
    """``count`` ports free now, below the kernel's ephemeral range: a port chosen there
    could be given to some outgoing connection before a process (a standby that binds
    only once elected) listens on it."""
    top = _ephemeral_start()
    chosen: list[int] = []
    sockets = []
    pick = random.Random()
    while len(chosen) < count:
        port = pick.randrange(10_000, top)
        if port in chosen:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        sockets.append(s)
        chosen.append(port)
    for s in sockets:
        s.close()
    return chosen


def write_config(
    folder: Path,
    *,
    markets: tuple[str, ...] = ("BTC-USDT", "ETH-USDT"),
    shards: int = 2,
    exchange: str = "",
    fsync: str = "batch",
    snapshot_every: int = 100_000,
    busy_poll_us: int = 0,
    gateway_workers: int = 1,
    curve: bool = True,
    coordinator: str = "",
) -> Path:
    """A config on free ports of 127.0.0.1; with ``coordinator`` (an etcd endpoint) every
    engine and shard has a standby."""
    ports = iter(free_ports(8 * len(markets) + 8 * shards + 4))
    lots = {"BTC": "0.0001", "ETH": "0.001"}
    parts = [
        "[exchange]",
        'name = "bourse-test"',
        "open_signup = true",
        "faucet = true",
        f'admin_key_sha256 = "{hashlib.sha256(b"test-admin-key").hexdigest()}"',
        "request_timeout_ms = 3000",
        "rate_limit_per_s = 100000",
        "rate_limit_burst = 100000",
        exchange,
        "[journal]",
        f'fsync = "{fsync}"',
        f"snapshot_every = {snapshot_every}",
        f"[actors]\nbusy_poll_us = {busy_poll_us}",
        f"[security]\ncurve = {'true' if curve else 'false'}",
        '[hosts.local]\naddress = "127.0.0.1"',
        "[assets.BTC]\ndecimals = 8",
        "[assets.ETH]\ndecimals = 8",
        "[assets.USDT]\ndecimals = 6",
    ]
    if coordinator:
        parts.append(f'[coordinator]\nendpoints = ["{coordinator}"]')

    def standby() -> str:
        if not coordinator:
            return ""
        router, pub, repl, metrics = (next(ports) for _ in range(4))
        return (
            f'\nrepl_port = {next(ports)}\nstandby = {{ host = "local", router_port = {router}, '
            f"pub_port = {pub}, repl_port = {repl}, metrics_port = {metrics} }}"
        )

    for market in markets:
        base, quote = market.split("-")
        parts.append(
            f'[markets.{market}]\nbase = "{base}"\nquote = "{quote}"\ntick = "0.01"\n'
            f'lot = "{lots[base]}"\nmin_notional = "1"\nmaker_fee = "0.001"\n'
            f'taker_fee = "0.002"\nhost = "local"\nrouter_port = {next(ports)}\n'
            f"pub_port = {next(ports)}\nmetrics_port = {next(ports)}{standby()}"
        )
    for _ in range(shards):
        parts.append(
            f'[[shards]]\nhost = "local"\nrouter_port = {next(ports)}\npub_port = {next(ports)}\n'
            f"metrics_port = {next(ports)}{standby()}"
        )
    # Tests and benchmarks are many clients on one address: limits per address are wide
    # open unless a test narrows them.
    parts.append("[auth_failures]\nslow_after = 1000000\nblock_after = 1000000")
    parts.append(
        f'[gateway]\nhost = "local"\nport = {next(ports)}\nworkers = {gateway_workers}\n'
        "max_connections_per_address = 4096\nsignup_per_s = 100000\nsignup_burst = 100000\n"
        "admin_per_s = 100000\nadmin_burst = 100000"
    )
    parts.append(
        f'[feed]\nhost = "local"\nrouter_port = {next(ports)}\nws_port = {next(ports)}\n'
        "conflate_ms = 20\nmax_connections = 10000\nmax_connections_per_address = 10000\n"
        "auth_per_s = 100000\nauth_burst = 100000"
    )
    path = folder / "bourse.toml"
    path.write_text("\n".join(parts) + "\n")
    return path


@dataclass
class Cluster:
    config_path: Path
    data_dir: Path
    config: Config
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    context: zmq.Context[Any] = field(default_factory=zmq.Context)
    _securities: dict[str, BusSecurity] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Every process's key pair, made once per cluster like `bourse keys init`.
        ensure_pairs(self.keys_dir, list(self.config.processes()))

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / self.config.raw.security.keys_dir

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["BOURSE_DATA_DIR"] = str(self.data_dir)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log_path = self.data_dir / f"{name}.log"
        log_file = log_path.open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "control.cli", "--config", str(self.config_path), "run", *args],
            cwd=ROOT,
            env=self.env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        self.logs[name] = log_path
        return process

    def start_engine(self, market: str) -> None:
        """Start an engine and wait until it answers and every running shard reaches it
        again (until then a shard refuses that market's orders with 503)."""
        self.start(f"engine-{market}", "engine", "--market", market)
        self.wait_engine(market)
        for shard in range(len(self.config.shards)):
            if f"accounts-{shard}" in self.processes:
                self.wait_shard(shard)

    def start_shard(self, shard: int) -> None:
        self.start(f"accounts-{shard}", "accounts", "--shard", str(shard))
        self.wait_shard(shard)

    def start_actors(self) -> None:
        """Every engine and shard (and their standbys, if the config has them)."""
        for market, engine in self.config.engines.items():
            self.start(engine.name, "engine", "--market", market)
            if engine.standby is not None:
                self.start(engine.standby.name, "engine", "--market", market, "--standby")
        for process in self.config.shards:
            number = str(process.shard)
            self.start(process.name, "accounts", "--shard", number)
            if process.standby is not None:
                self.start(process.standby.name, "accounts", "--shard", number, "--standby")
        for market in self.config.engines:
            self.wait_engine(market)
        for shard in range(len(self.config.shards)):
            self.wait_shard(shard)

    def wait_in_sync(self, timeout_s: float = 30.0) -> None:
        """Until every engine's and shard's standby holds all its leader's records."""
        deadline = time.monotonic() + timeout_s
        for market in self.config.engines:
            self._wait_pair(self.engine_client(market), StatusQuery(), deadline)
        for shard in range(len(self.config.shards)):
            self._wait_pair(self.shard_client(shard), GetStatus(), deadline)

    def _wait_pair(self, client: BlockingClient, query: object, deadline: float) -> None:
        try:
            while True:
                reply_type = EngineOutbound if isinstance(query, StatusQuery) else AccountsReply
                try:
                    pair = client.call(query, reply_type, 0.5).pair
                    if pair is not None and pair.standby_in_sync:
                        return
                except TimeoutError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("a standby did not get in sync")
                time.sleep(0.05)  # polling the leader's own status
        finally:
            client.close()

    def security(self, process: str) -> BusSecurity:
        """The bus security of ``process`` (the harness holds every key, as an operator's
        machine does), for a client that speaks as that process."""
        security = self._securities.get(process)
        if security is None:
            enabled = self.config.security.curve
            security = BusSecurity(self.keys_dir, process, admits, [], enabled=enabled)
            self._securities[process] = security
        return security

    def client(self, target: str, endpoint: str, speaking_as: str) -> BlockingClient:
        """A blocking client of the process ``target`` at ``endpoint``."""
        return BlockingClient(self.context, [(endpoint, target)], self.security(speaking_as))

    def engine_client(self, market: str, speaking_as: str = OPERATOR) -> BlockingClient:
        """A client of an engine (of its leader, when it has a standby)."""
        routers = self.config.engines[market].routers
        return BlockingClient(self.context, routers, self.security(speaking_as))

    def shard_client(self, shard: int, speaking_as: str = GATEWAY) -> BlockingClient:
        """A client of a shard that speaks as the gateway (tests drive shards as it does)."""
        routers = self.config.shards[shard].routers
        return BlockingClient(self.context, routers, self.security(speaking_as))

    def feed_client(self, speaking_as: str = GATEWAY) -> BlockingClient:
        return self.client(FEED, self.config.feed_router.connect, speaking_as)

    def wait_engine(self, market: str, timeout_s: float = 20.0) -> None:
        self._wait(
            f"engine-{market}",
            lambda c: c.call(StatusQuery(), EngineOutbound, 0.2),
            self.engine_client(market),
            timeout_s,
        )

    def wait_shard(self, shard: int, timeout_s: float = 20.0, engines_up: bool = True) -> None:
        """Until the shard answers and (with ``engines_up``) reaches every engine: before
        that it refuses orders with 503."""

        def probe(client: BlockingClient) -> None:
            status = client.call(GetStatus(), AccountsReply, 0.2)
            if engines_up and not all(status.engines_up.values()):
                raise TimeoutError("the shard does not reach every engine yet")

        self._wait(f"accounts-{shard}", probe, self.shard_client(shard), timeout_s)

    def _wait(self, name: str, probe: Any, client: BlockingClient, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                process = self.processes.get(name)
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.read_log(name)}")
                try:
                    probe(client)
                    return
                except TimeoutError:
                    client.close()
                    client = client_of(self, name)
            raise TimeoutError(f"{name} not ready: {self.read_log(name)}")
        finally:
            client.close()

    def read_log(self, name: str) -> str:
        path = self.logs.get(name)
        return path.read_text()[-4000:] if path and path.exists() else ""

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> int:
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def kill(self, name: str) -> None:
        self.stop(name, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        self.context.destroy(linger=0)


def client_of(cluster: Cluster, name: str) -> BlockingClient:
    if name.startswith("engine-"):
        return cluster.engine_client(name.removeprefix("engine-"))
    return cluster.shard_client(int(name.removeprefix("accounts-")))


@contextmanager
def cluster(folder: Path, **config_options: Any) -> Iterator[Cluster]:
    config_path = write_config(folder, **config_options)
    data_dir = folder / "data"
    data_dir.mkdir(exist_ok=True)
    running = Cluster(config_path, data_dir, load_config(config_path))
    try:
        yield running
    finally:
        running.stop_all()
