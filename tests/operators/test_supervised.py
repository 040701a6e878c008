"""Run as an operator does: two hosts (the engines and shards on one, the gateway and the
feed on the other), each under ``bourse run --host``.  ``kill -9`` each process in
turn: it comes back by itself, and meanwhile everything that does not need it answers,
while the calls that need it get 503.  After each recovery ``bourse status`` lists every
process of both hosts as up and agrees with ``/api/v1/health``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import zmq
from supervisedkit import Supervised, place_on_edge, supervised, wait_until
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from actors.accounts.protocol import AccountsReply, GetStatus, ShardStatus
from actors.engine.protocol import EngineOutbound, EngineStatus, StatusQuery
from bourse.peers import OPERATOR, admits
from transport.blocking import BlockingClient
from transport.security import BusSecurity

VICTIMS = ["engine-BTC-USDT", "accounts-0", "gateway", "feed"]
DOWN = 0  # what a call that could not reach the gateway or the feed at all counts as
OFF_HTTP = {"feed ping"}  # the calls that do not go through the gateway (and the bus's)


@dataclass
class Call:
    name: str
    needs: frozenset[str]
    run: Callable[[], int]  # an HTTP status, 200 for an answer off HTTP, DOWN for none


class Probe:
    """The calls an operator would watch: orders, balances, history, depth over HTTP,
    a WebSocket ping to the feed, and each engine's and shard's status on the bus."""

    def __init__(self, s: Supervised) -> None:
        self.s = s
        self.api = s.api()
        self.users = self._users_on_each_shard()
        self.ws: ClientConnection | None = None
        self.context: zmq.Context[Any] = zmq.Context()
        keys = s.data / s.config.raw.security.keys_dir
        self.security = BusSecurity(keys, OPERATOR, admits, [])

    def _users_on_each_shard(self) -> dict[int, dict[str, str]]:
        users: dict[int, dict[str, str]] = {}
        while len(users) < len(self.s.config.shards):
            created = self.api.post("/api/v1/users")
            assert created.status_code == 201, created.text
            headers = {"Authorization": f"Bearer {created.json()['api_key']}"}
            funded = self.api.post(
                "/api/v1/deposits", json={"asset": "USDT", "amount": "1000000"}, headers=headers
            )
            assert funded.status_code == 200, funded.text
            users.setdefault(int(created.json()["user_id"]) >> 40, headers)
        return users

    def http(self, method: str, path: str, **options: Any) -> int:
        try:
            return self.api.request(method, path, **options).status_code
        except httpx.TransportError:
            return DOWN

    def order(self, shard: int, market: str) -> int:
        body = {"market": market, "side": "buy", "type": "limit", "price": "100", "qty": "0.01"}
        return self.http("POST", "/api/v1/orders", json=body, headers=self.users[shard])

    def ping_feed(self) -> int:
        feed = self.s.config.feed_ws
        try:
            if self.ws is None:
                url = f"ws://{feed.address}:{feed.port}/ws"
                self.ws = connect(url, open_timeout=2).__enter__()
            self.ws.send('{"op": "ping"}')
            answer = json.loads(self.ws.recv(timeout=3))
            return 200 if answer == {"op": "pong"} else 500
        except (OSError, TimeoutError, WebSocketException):
            if self.ws is not None:
                self.ws.close()
            self.ws = None
            return DOWN

    def actor_status(self, servers: list[tuple[str, str]], message: object, kind: type) -> int:
        client = BlockingClient(self.context, servers, self.security)
        try:
            reply = client.call(message, EngineOutbound if kind is EngineStatus else AccountsReply)
            return 200 if isinstance(reply, kind) else 500
        except TimeoutError:
            return DOWN
        finally:
            client.close()

    def calls(self) -> list[Call]:
        config = self.s.config
        calls = [
            Call(
                f"order {market} on shard {shard}",
                frozenset({"gateway", f"accounts-{shard}", f"engine-{market}"}),
                lambda shard=shard, market=market: self.order(shard, market),
            )
            for shard in self.users
            for market in config.markets
        ]
        calls += [
            Call(
                f"balances on shard {shard}",
                frozenset({"gateway", f"accounts-{shard}"}),
                lambda shard=shard: self.http("GET", "/api/v1/balances", headers=self.users[shard]),
            )
            for shard in self.users
        ]
        calls += [
            Call(
                "trades",
                frozenset({"gateway", "feed"}),
                lambda: self.http("GET", "/api/v1/trades", params={"market": "ETH-USDT"}),
            ),
            Call(
                "depth",
                frozenset({"gateway", "engine-ETH-USDT"}),
                lambda: self.http("GET", "/api/v1/depth", params={"market": "ETH-USDT"}),
            ),
            Call("feed ping", frozenset({"feed"}), self.ping_feed),
        ]
        calls += [
            Call(
                f"{engine.name} status",
                frozenset({engine.name}),
                lambda engine=engine: self.actor_status(
                    engine.routers, StatusQuery(), EngineStatus
                ),
            )
            for engine in config.engines.values()
        ]
        calls += [
            Call(
                f"{shard.name} status",
                frozenset({shard.name}),
                lambda shard=shard: self.actor_status(shard.routers, GetStatus(), ShardStatus),
            )
            for shard in config.shards
        ]
        return calls

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.api.close()
        self.context.destroy(linger=0)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Supervised]:
    with supervised(tmp_path, rewrite=place_on_edge) as s:
        yield s


def peer_downs(s: Supervised, victim: str) -> dict[str, int]:
    """How many times each process that talks to ``victim`` logged it down."""
    watchers = {
        "engine": ["gateway", "feed", *(shard.name for shard in s.config.shards)],
        "accounts": ["gateway", "feed"],
        "feed": ["gateway"],
        "gateway": [],
    }[victim.split("-")[0]]
    records = [r for host in s.config.raw.hosts for r in s.records(host)]
    return {
        watcher: sum(
            1
            for r in records
            if r.get("process") == watcher
            and r.get("msg") == "peer down"
            and r.get("peer") == victim
        )
        for watcher in watchers
    }


def status_agrees(s: Supervised) -> None:
    """``bourse status``: every process of every host is a row, each up, and exit 0 exactly
    as the gateway's health says every actor answers."""
    code, table = s.status()
    rows = {line.split()[1]: line.split() for line in table.splitlines()[1:]}
    placed = {name: host for name, host in s.config.processes().items() if host is not None}
    assert set(rows) == set(placed), table
    for name, host in placed.items():
        assert rows[name][0] == host and rows[name][3] == "up", table
    health = s.health()
    assert health is not None and health["ok"] is True
    assert code == 0, table


def test_each_process_killed_comes_back_and_only_its_own_calls_fail(running: Supervised) -> None:
    s = running
    assert s.config.processes()["feed"] == "edge" and s.config.processes()["gateway"] == "edge"
    s.wait_healthy()
    probe = Probe(s)
    try:
        calls = probe.calls()
        for call in calls:
            assert 200 <= call.run() < 300, f"{call.name} before any kill"
        status_agrees(s)
        for victim in VICTIMS:
            starts = len(s.pids(victim))
            downs = peer_downs(s, victim)
            s.kill(victim)
            # A call that set off before its peers could know may get 504 (its outcome is
            # unknown): until every peer of the victim logged it down, only the calls that
            # do not need it are made.
            while peer_downs(s, victim) != {p: n + 1 for p, n in downs.items()}:
                for call in calls:
                    if victim not in call.needs:
                        assert 200 <= call.run() < 300, f"{victim} killed: {call.name}"
            refused: dict[str, int] = {}
            deadline = time.monotonic() + 60
            while True:
                for call in calls:
                    code = call.run()
                    if victim in call.needs:
                        assert code == DOWN or code == 503 or 200 <= code < 300, (
                            f"{victim} killed: {call.name} answered {code}"
                        )
                        if code in (503, DOWN):
                            refused[call.name] = code
                    else:
                        assert 200 <= code < 300, f"{victim} killed: {call.name} answered {code}"
                back = len(s.pids(victim)) > starts and (s.health() or {}).get("ok") is True
                if back:
                    break
                assert time.monotonic() < deadline, f"{victim} did not come back"
            assert refused, f"no call saw {victim} gone"
            if victim != "gateway":  # through the gateway: 503 (the feed's own socket drops)
                through_gateway = {n: c for n, c in refused.items() if n not in OFF_HTTP}
                assert through_gateway and set(through_gateway.values()) == {503}, refused
            # Back: every call answers again, and status agrees with health.
            wait_until(
                lambda: all(200 <= call.run() < 300 for call in calls),
                30,
                f"every call answers after {victim} came back",
            )
            status_agrees(s)
        for victim in VICTIMS:
            assert len(s.pids(victim)) == 2, victim
        log = s.log("local").read_text() + s.log("edge").read_text()
        assert "process exited; restarting after back-off" in log
    finally:
        probe.close()
