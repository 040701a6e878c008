"""Failover under load: kill -9 the leader of an engine or shard pair, again and again,
and measure how long service stops and whether an acknowledged order is ever lost.

How:
- One market (BTC-USDT) and two accounts shards, each with a hot standby, etcd deciding
  who leads (``harness.etcd``, a 1 s lease); every process on this machine.
- A client process sends ``--rate`` orders a second (GTC limits around one price, so
  about half trade), each with a client order id, through the shards' DEALERs as the
  gateway does, and notes every acknowledged order and when it was acknowledged.
- ``--kills`` times, alternately the engine's leader and a shard's leader is killed with
  SIGKILL; once the other instance leads, the killed one is started again and rejoins as
  the standby.  Failover time: from the last order acknowledged through that pair before
  the kill to the first acknowledgement of an order sent after it (which only the new
  leader can give): the client's view of the gap.
- Afterwards every acknowledged order is looked up by its client order id: one that is
  missing, or has fewer fills than it was acknowledged with, is lost.
- Then ``bench.pipeline``'s fixed rate and saturation, with and without standbys, in
  alternating runs (``--pairs`` of each): the standby throughput ratio is the median of
  with / without.

Last line: ``{"bench": "failover", "kills": N, "lost": 0, "failover_ms_p50": X,
"failover_ms_max": Y, "standby_throughput_ratio": R}``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import random
import signal
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import zmq.asyncio

from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    CreateUser,
    Deposit,
    GetOrder,
    GetStatus,
    OrderReply,
    PlaceOrder,
    UserCreated,
)
from actors.engine.protocol import EngineOutbound, StatusQuery
from bench import pipeline
from bench.stats import percentiles
from bourse.peers import GATEWAY, admits
from harness.cluster import Cluster, cluster
from harness.etcd import etcd
from transport.client import DealerClient, RequestError
from transport.security import BusSecurity

MARKET = "BTC-USDT"
PRICE = 30_000 * 1_000_000
LOT = 10_000
encode = msgspec.msgpack.Encoder().encode
decode = msgspec.msgpack.Decoder(AccountsReply).decode


@dataclass
class Acked:
    shard: int
    auth: Auth
    client_id: str
    filled: int
    sent: float  # time.monotonic() when the order was sent
    at: float  # and when its acknowledgement came


@dataclass
class Load:
    """Orders at a fixed rate through every shard, from a thread of its own."""

    c: Cluster
    rate: float
    acked: list[Acked] = field(default_factory=list)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        context = zmq.asyncio.Context()
        security = BusSecurity(self.c.keys_dir, GATEWAY, admits, [])
        shards = [
            DealerClient(context, shard.routers, shard.name, 3.0, security)
            for shard in self.c.config.shards
        ]
        secret = hashlib.sha256(b"failover").digest()
        users: list[tuple[int, Auth]] = []
        for client in shards:  # a DEALER refuses to send until it has connected
            while True:
                try:
                    await client.request(encode(GetStatus()))
                    break
                except RequestError:
                    await asyncio.sleep(0.01)
        for shard, client in enumerate(shards):
            for _ in range(2):
                created = decode(await client.request(encode(CreateUser(secret))))
                assert isinstance(created, UserCreated), created
                auth = Auth(created.user_id, secret)
                for asset, amount in (("USDT", 10**15), ("BTC", 10**13)):
                    await client.request(encode(Deposit(auth, asset, amount)))
                users.append((shard, auth))
        pick = random.Random(1)
        ids = itertools.count()
        pending: set[asyncio.Task[None]] = set()
        gap = 1 / self.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            shard, auth = pick.choice(users)
            side = pick.choice(("buy", "sell"))
            price = PRICE + pick.randint(-3, 3) * 10_000
            order = PlaceOrder(
                auth, MARKET, side, "limit", price, LOT, client_order_id=f"f{next(ids)}"
            )
            task = asyncio.create_task(self._place(shards[shard], shard, order))
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += gap
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*pending)
        for client in shards:
            await client.close()
        context.destroy(linger=0)

    async def _place(self, client: DealerClient, shard: int, order: PlaceOrder) -> None:
        sent = now()
        try:
            reply = decode(await client.request(encode(order)))
        except RequestError:
            self.errors += 1
            return
        if isinstance(reply, OrderReply):
            assert order.client_order_id is not None
            filled = reply.order.filled_qty
            self.acked.append(Acked(shard, order.auth, order.client_order_id, filled, sent, now()))
        else:
            self.errors += 1


def now() -> float:
    return time.monotonic()


def leader_of(c: Cluster, pair: str) -> tuple[str, int]:
    """The instance that leads ``pair`` and its epoch, from its own status."""
    client = (
        c.engine_client(MARKET)
        if pair.startswith("engine")
        else c.shard_client(int(pair.removeprefix("accounts-")))
    )
    query: object = StatusQuery() if pair.startswith("engine") else GetStatus()
    reply_type: object = EngineOutbound if pair.startswith("engine") else AccountsReply
    try:
        while True:
            try:
                status = client.call(query, reply_type, 0.5).pair
                return status.instance, status.epoch
            except TimeoutError:
                continue
    finally:
        client.close()


def restart(c: Cluster, instance: str) -> None:
    standby = instance.endswith("_standby")
    flag = ["--standby"] if standby else []
    name = instance.removesuffix("_standby")
    if name.startswith("engine-"):
        c.start(instance, "engine", "--market", name.removeprefix("engine-"), *flag)
    else:
        c.start(instance, "accounts", "--shard", name.removeprefix("accounts-"), *flag)


def kill_and_measure(c: Cluster, load: Load, pair: str) -> float:
    """Kill ``pair``'s leader; the gap in acknowledgements through it, in ms."""
    shard = None if pair.startswith("engine") else int(pair.removeprefix("accounts-"))

    def through_pair(acked: Acked) -> bool:
        return shard is None or acked.shard == shard

    instance, epoch = leader_of(c, pair)
    killed_at = now()
    os.kill(c.processes.pop(instance).pid, signal.SIGKILL)
    while leader_of(c, pair)[1] == epoch:
        time.sleep(0.02)  # polling the pair's status until a new leader answers

    def new_leaders(acked: Acked) -> bool:  # sent after the kill: only the new one answers
        return acked.sent > killed_at and through_pair(acked)

    while not any(new_leaders(a) for a in load.acked[-200:]):
        time.sleep(0.01)  # until an order goes through the new leader
    before = [a.at for a in load.acked if a.at <= killed_at and through_pair(a)]
    after = [a.at for a in load.acked if new_leaders(a)]
    gap_ms = (min(after) - max(before)) * 1000 if before else 0.0
    restart(c, instance)
    c.wait_in_sync()
    return gap_ms


def lost_orders(c: Cluster, acked: list[Acked]) -> int:
    lost = 0
    clients = [c.shard_client(shard) for shard in range(len(c.config.shards))]
    for order in acked:
        reply = clients[order.shard].call(
            GetOrder(order.auth, client_order_id=order.client_id), AccountsReply
        )
        if not isinstance(reply, OrderReply) or reply.order.filled_qty < order.filled:
            lost += 1
    for client in clients:
        client.close()
    return lost


def failovers(args: argparse.Namespace) -> tuple[list[float], int, int]:
    with (
        tempfile.TemporaryDirectory(prefix="bourse-failover-") as folder,
        etcd(Path(folder) / "etcd") as server,
        cluster(Path(folder), markets=(MARKET,), shards=2, coordinator=server.endpoint) as c,
    ):
        c.start_actors()
        c.wait_in_sync()
        load = Load(c, args.rate)
        thread = threading.Thread(target=load.run, daemon=True)
        thread.start()
        while len(load.acked) < 100:
            time.sleep(0.05)  # until the load runs
        gaps = []
        for kill in range(args.kills):
            pair = "engine-BTC-USDT" if kill % 2 == 0 else f"accounts-{kill // 2 % 2}"
            gap = kill_and_measure(c, load, pair)
            gaps.append(gap)
            print(f"kill {kill + 1}: {pair} leader, {gap:.0f} ms without answers", flush=True)
        load.stop.set()
        thread.join(30)
        lost = lost_orders(c, load.acked)
        print(f"{len(load.acked)} orders acknowledged, {load.errors} refused or timed out")
        return gaps, lost, len(load.acked)


def throughput_ratio(args: argparse.Namespace) -> float:
    ratios = []
    for number in range(args.pairs):
        figures = {}
        for standbys in (False, True):
            argv = ["--duration", str(args.duration), "--rates", "1000"]
            phases = pipeline.run(pipeline.parse_args(argv + (["--standbys"] if standbys else [])))
            figures[standbys] = pipeline.summarize(phases)
            print(f"pair {number + 1}, standbys {standbys}: {figures[standbys]}", flush=True)
        ratios.append(figures[True]["orders_per_s"] / figures[False]["orders_per_s"])
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0, help="orders a second")
    parser.add_argument("--pairs", type=int, default=2, help="pipeline runs of each kind")
    parser.add_argument("--duration", type=float, default=5.0, help="pipeline seconds per phase")
    args = parser.parse_args()
    os.environ.setdefault("BOURSE_LOG_LEVEL", "WARNING")
    gaps, lost, acked = failovers(args)
    p50, top = percentiles(gaps, 0.5, 1.0)
    print(f"failover: p50 {p50:.0f} ms, max {top:.0f} ms; lost {lost} of {acked}")
    ratio = throughput_ratio(args) if args.pairs else 0.0
    print(f"with standbys / without, pipeline saturation: {ratio:.2f}")
    result = {
        "bench": "failover",
        "kills": len(gaps),
        "lost": lost,
        "failover_ms_p50": round(p50),
        "failover_ms_max": round(top),
        "standby_throughput_ratio": round(ratio, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
