"""Order pipeline benchmark: accounts shards and matching engines as real processes.

What it measures: how many order requests per second two accounts shards and two
matching engines (BTC-USDT, ETH-USDT) serve when many requests are in flight, and the
request-to-reply latency of a single order request at fixed offered rates.  The gateway
is left out: clients speak the accounts shards' own protocol (msgspec msgpack on ZeroMQ
DEALER sockets), so every request takes the full path shard -> engine -> shard(s) -> reply.

How:
- ``tests/harness.py`` writes a config on free 127.0.0.1 ports into a temporary folder
  and starts the four actor processes; they are stopped and the folder removed at the end.
- ``--clients`` client processes (default 1: it drives the actors to their plateau with
  half a core, and on two cores a second one only takes CPU from the actors) each run
  a uvloop event loop with one :class:`transport.client.DealerClient` per shard, create
  users on both shards, deposit funds, and seed the books with resting orders.
- Workload, on both markets: GTC limit orders within a few dozen ticks of a fixed mid
  price, on both sides and sometimes through it, so that some of them trade; and cancels
  of the client's own resting orders, chosen at random, whenever the client believes it
  holds its share of ``--book`` resting orders (so the books stay near that size; when
  every order it holds is still awaiting its reply, it sends an IOC order instead).
- Order of phases: a 2-second warm-up, the fixed rates, then saturation (which writes
  hundreds of megabytes of journal that the disk goes on writing back for a while: a
  fixed rate measured after it measures that too).
- Saturation: closed loops keeping ``--inflight`` requests outstanding in total (by
  default 200, 400, 800 and 1,600 in turn, one phase each); the figure is completed order
  requests (places and cancels) per second in the best of them.  More requests in
  flight make bigger batches, so each journal commit and each message between actors
  carries more orders, until the latency (Little's law: in flight / throughput) is all
  that grows: the rows show where that happens.
- Fixed rates (``--rates``, default 1,000/s and 10,000/s): open loop; each client sends on
  a timetable and never waits for a reply before the next send.  Above 1,000 sends a
  second per client it sleeps at least 1 ms at a time and then sends everything due, so
  sends go in small bursts rather than one wake-up each.  Latency runs from just
  before the request is handed to the socket until its reply is decoded in the client;
  how late the sends ran against the timetable is reported separately ("lag"), and a
  rate counts as sustained when the sends kept to the timetable (lag p99 under 5 ms),
  every request was answered, and the replies kept pace (98% of the rate, measured from
  the first send to the last reply).
- Alongside, the CPU each actor process, the clients and every other process on the
  machine used during each phase (from /proc), since the figures mean little on a
  machine that is busy with something else.

The last line of output is one JSON object: orders/s at saturation, p50 and p99 in
microseconds at the first fixed rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import random
import sys
import tempfile
import time
from array import array
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec
import zmq.asyncio

from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    BalancesReply,
    CancelOrder,
    CreateUser,
    Deposit,
    ErrorReply,
    GetStatus,
    OrderReply,
    PlaceOrder,
    UserCreated,
)
from actors.engine.messages import Side, TimeInForce
from actors.engine.protocol import EngineOutbound, EngineStatus, StatusQuery
from bench.proc import cpu_seconds, machine_busy_seconds
from bench.stats import percentile
from bourse.peers import GATEWAY, admits, shard_name
from harness.cluster import Cluster, cluster
from harness.etcd import etcd
from transport.client import DealerClient, RequestError, Unavailable
from transport.security import BusSecurity

MARKETS: dict[str, tuple[int, int, int]] = {
    # market: (mid price, tick, lot) in the smallest units of the config the harness writes
    "BTC-USDT": (30_000_000_000, 10_000, 10_000),
    "ETH-USDT": (2_000_000_000, 10_000, 100_000),
}
DEPOSITS: dict[str, int] = {
    "USDT": 10**9 * 10**6,
    "BTC": 10**5 * 10**8,
    "ETH": 10**6 * 10**8,
}
OFFSET_TICKS = (-3, 30)  # limit prices from mid - 3 ticks (crossing) to mid + 30 ticks away
MAX_LOTS = 10
REQUEST_TIMEOUT_S = 10.0
RESTING = ("new", "partially_filled")
SEND_TICK_S = 0.001  # the open loop's shortest sleep between sends
MAX_LAG_P99_US = 5_000  # an open-loop phase whose sends ran later than this missed its rate


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    index: int
    endpoints: list[list[tuple[str, str]]]  # per shard: (endpoint, process) of each instance
    users_per_shard: int
    book_share: int
    seed: int
    keys_dir: str  # the cluster's keys: the client speaks as the gateway
    curve: bool


@dataclass(slots=True)
class PhaseResult:
    """What one client process saw during one phase; merged across clients by the parent."""

    sent: int = 0
    answered: int = 0
    places: int = 0
    cancels: int = 0
    traded: int = 0  # places that traded on arrival (as taker)
    elapsed_s: float = 0.0
    finished_s: float = 0.0  # open loop: from the first send to the last reply
    client_cpu_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ns: array[int] = field(default_factory=lambda: array("q"))
    lags_ns: array[int] = field(default_factory=lambda: array("q"))

    def merge(self, other: PhaseResult) -> None:
        self.sent += other.sent
        self.answered += other.answered
        self.places += other.places
        self.cancels += other.cancels
        self.traded += other.traded
        self.elapsed_s = max(self.elapsed_s, other.elapsed_s)
        self.finished_s = max(self.finished_s, other.finished_s)
        self.client_cpu_s += other.client_cpu_s
        self.errors.update(other.errors)
        self.latencies_ns.extend(other.latencies_ns)
        self.lags_ns.extend(other.lags_ns)


@dataclass(frozen=True, slots=True)
class Resting:
    shard: int
    auth: Auth
    order_id: int


# --- the client process -------------------------------------------------------------------


class Worker:
    """One client process: a DEALER per shard, its users, and the orders it keeps resting."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.random = random.Random(settings.seed)
        self.context = zmq.asyncio.Context()
        security = BusSecurity(Path(settings.keys_dir), GATEWAY, admits, [], enabled=settings.curve)
        self.clients = [
            DealerClient(self.context, routers, shard_name(shard), REQUEST_TIMEOUT_S, security)
            for shard, routers in enumerate(settings.endpoints)
        ]
        self.users: list[list[Auth]] = [[] for _ in settings.endpoints]
        self.resting: list[Resting] = []
        self.placing = 0  # GTC orders sent and not yet answered
        self.encode = msgspec.msgpack.Encoder().encode
        self.decode = msgspec.msgpack.Decoder(AccountsReply).decode

    async def call(self, shard: int, message: object) -> Any:
        return self.decode(await self.clients[shard].request(self.encode(message)))

    async def connect(self, timeout_s: float = 10.0) -> None:
        """Wait until every shard answers: a DEALER refuses to send before it connects."""
        deadline = time.monotonic() + timeout_s
        for shard in range(len(self.clients)):
            while True:
                try:
                    await self.call(shard, GetStatus())
                    break
                except Unavailable:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.01)

    async def setup(self) -> None:
        await self.connect()
        secret = hashlib.sha256(f"bench-{self.settings.index}".encode()).digest()
        for shard in range(len(self.clients)):
            for _ in range(self.settings.users_per_shard):
                created = await self.call(shard, CreateUser(secret))
                if not isinstance(created, UserCreated):
                    raise RuntimeError(f"CreateUser failed: {created!r}")
                auth = Auth(created.user_id, secret)
                for asset, amount in DEPOSITS.items():
                    reply = await self.call(shard, Deposit(auth, asset, amount))
                    if not isinstance(reply, BalancesReply):
                        raise RuntimeError(f"Deposit failed: {reply!r}")
                self.users[shard].append(auth)

    def next_request(self, passive: bool) -> tuple[int, Auth, bytes, Resting | bool]:
        """The next order request: shard, user, body, and the resting order it cancels,
        else whether it is a GTC order that may rest."""
        full = len(self.resting) + self.placing >= self.settings.book_share
        if full and self.resting:
            position = self.random.randrange(len(self.resting))
            order = self.resting[position]
            self.resting[position] = self.resting[-1]
            self.resting.pop()
            body = self.encode(CancelOrder(order.auth, order.order_id))
            return order.shard, order.auth, body, order
        rng = self.random
        shard = rng.randrange(len(self.clients))
        auth = rng.choice(self.users[shard])
        market = rng.choice(tuple(MARKETS))
        mid, tick, lot = MARKETS[market]
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        low, high = OFFSET_TICKS
        offset = rng.randint(max(low, 1) if passive else low, high)
        price = mid - offset * tick if side == "buy" else mid + offset * tick
        qty = rng.randint(1, MAX_LOTS) * lot
        # At its share with nothing known to cancel (replies to places still in flight):
        # an IOC order, which never rests, keeps the books from growing.
        tif: TimeInForce = "IOC" if full else "GTC"
        place = PlaceOrder(auth, market, side, "limit", price=price, qty=qty, time_in_force=tif)
        return shard, auth, self.encode(place), not full

    async def one(self, result: PhaseResult, due: float | None, passive: bool = False) -> None:
        shard, auth, body, what = self.next_request(passive)
        gtc = what is True
        if gtc:
            self.placing += 1
        result.sent += 1
        started = time.monotonic_ns()
        if due is not None:
            result.lags_ns.append(max(0, started - int(due * 1e9)))
        try:
            raw = await self.clients[shard].request(body)
        except RequestError as error:
            result.errors[type(error).__name__] += 1
            return
        finally:
            if gtc:
                self.placing -= 1
        reply = self.decode(raw)
        result.latencies_ns.append(time.monotonic_ns() - started)
        result.answered += 1
        if isinstance(what, Resting):
            result.cancels += 1
            if isinstance(reply, ErrorReply):
                # Usually ORDER_CLOSED: another client's order filled it first.
                result.errors[f"cancel:{reply.code}"] += 1
            return
        result.places += 1
        if isinstance(reply, OrderReply):
            order = reply.order
            if order.filled_qty:
                result.traded += 1
            if order.status in RESTING:
                self.resting.append(Resting(shard, auth, order.order_id))
        elif isinstance(reply, ErrorReply):
            result.errors[f"place:{reply.code}"] += 1

    async def seed(self) -> PhaseResult:
        """Fill this client's share of the books with passive orders, 50 in flight."""
        result = PhaseResult()
        share = self.settings.book_share

        async def slot() -> None:
            while len(self.resting) + self.placing < share:
                await self.one(result, None, passive=True)

        await asyncio.gather(*(slot() for _ in range(50)))
        return result

    async def closed_loop(self, start_at: float, duration_s: float, inflight: int) -> PhaseResult:
        result = PhaseResult()
        await sleep_until(start_at)
        end = start_at + duration_s

        async def slot() -> None:
            while time.monotonic() < end:
                await self.one(result, None)

        await asyncio.gather(*(slot() for _ in range(inflight)))
        result.elapsed_s = time.monotonic() - start_at
        return result

    async def open_loop(self, start_at: float, duration_s: float, rate: float) -> PhaseResult:
        result = PhaseResult()
        interval = 1.0 / rate
        shortest_sleep = SEND_TICK_S if interval < SEND_TICK_S else 0.0
        count = int(duration_s * rate)
        tasks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        sent = 0
        while sent < count:
            due = start_at + sent * interval
            now = time.monotonic()
            if now < due:
                # At rates above one send a tick, never sleep less than a tick: each
                # wake-up of the client costs more than the sends it makes, so the
                # sends due by then go together (their lag is measured and reported).
                await asyncio.sleep(max(due - now, shortest_sleep))
                now = time.monotonic()
            while sent < count and start_at + sent * interval <= now:
                task = loop.create_task(self.one(result, start_at + sent * interval))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
        send_end = time.monotonic()
        if tasks:
            await asyncio.gather(*tasks)
        result.elapsed_s = send_end - start_at
        result.finished_s = time.monotonic() - start_at
        return result

    async def serve(self, conn: Connection) -> None:
        for client in self.clients:
            client.start()
        try:
            while True:
                command: tuple[Any, ...] = conn.recv()  # between phases: nothing in flight
                name = command[0]
                if name == "stop":
                    break
                if name == "setup":
                    await self.setup()
                    conn.send(None)
                elif name == "seed":
                    conn.send(await self.seed())
                elif name in ("closed", "open"):
                    cpu = time.process_time()
                    phase = self.closed_loop if name == "closed" else self.open_loop
                    result = await phase(command[1], command[2], command[3])
                    result.client_cpu_s = time.process_time() - cpu
                    conn.send(result)
        finally:
            for client in self.clients:
                await client.close()
            self.context.destroy(linger=0)


async def sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def worker_main(settings: WorkerSettings, conn: Connection) -> None:
    import uvloop

    uvloop.run(Worker(settings).serve(conn))


# --- the parent: cluster, client processes, phases, report --------------------------------


@dataclass(slots=True)
class Phase:
    name: str
    offered: float | None  # None: closed loop
    result: PhaseResult
    book: dict[str, int]
    cpu: dict[str, float]  # share of one core each process used during the phase


class Clients:
    """The client processes and the pipes that drive them, phase by phase."""

    def __init__(
        self, endpoints: list[list[tuple[str, str]]], keys_dir: Path, args: argparse.Namespace
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for index in range(args.clients):
            parent, child = context.Pipe()
            settings = WorkerSettings(
                index=index,
                endpoints=endpoints,
                users_per_shard=args.users,
                book_share=max(1, args.book // args.clients),
                seed=args.seed + index,
                keys_dir=str(keys_dir),
                curve=not args.no_curve,
            )
            process = context.Process(
                target=worker_main, args=(settings, child), name=f"bench-client-{index}"
            )
            process.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(process)

    def run(self, command: tuple[Any, ...], timeout_s: float) -> list[Any]:
        for conn in self.conns:
            conn.send(command)
        answers = []
        for index, conn in enumerate(self.conns):
            if not conn.poll(timeout_s):
                raise TimeoutError(f"client {index} did not finish {command[0]!r}")
            try:
                answers.append(conn.recv())
            except EOFError:
                raise RuntimeError(f"client {index} exited during {command[0]!r}") from None
        return answers

    def phase(self, command: tuple[Any, ...], timeout_s: float) -> PhaseResult:
        merged = PhaseResult()
        for result in self.run(command, timeout_s):
            merged.merge(result)
        return merged

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(("stop",))
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)
        for conn in self.conns:
            conn.close()


def measure(
    running: Cluster, clients: Clients, name: str, offered: float | None, command: tuple[Any, ...]
) -> Phase:
    """Run one phase on every client and note how busy each process was meanwhile."""
    pids = {name: process.pid for name, process in running.processes.items()}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    busy = machine_busy_seconds()
    started = time.monotonic()
    result = clients.phase(command, command[2] + 60)
    wall = time.monotonic() - started
    busy = (machine_busy_seconds() - busy) / wall
    cpu = {name: (cpu_seconds(pid) - before[name]) / wall for name, pid in pids.items()}
    cpu["clients"] = result.client_cpu_s / wall
    cpu["other processes"] = max(0.0, busy - sum(cpu.values()))
    return Phase(name, offered, result, book_size(running), cpu)


def book_size(running: Cluster) -> dict[str, int]:
    sizes = {}
    for market in MARKETS:
        client = running.engine_client(market)
        try:
            status = client.call(StatusQuery(), EngineOutbound)
        finally:
            client.close()
        assert isinstance(status, EngineStatus)
        sizes[market] = status.open_orders
    return sizes


def shortfalls(phase: Phase) -> list[str]:
    """Why an open-loop phase did not hold its rate: sends behind the timetable, or
    requests unanswered; empty when the rate was sustained."""
    result, offered = phase.result, phase.offered
    assert offered is not None
    reasons = []
    send_rate = result.sent / result.elapsed_s if result.elapsed_s > 0 else 0.0
    if send_rate < 0.98 * offered:
        reasons.append(f"sent only {send_rate:,.0f}/s")
    lag_p99 = percentile(sorted(result.lags_ns), 0.99) / 1000
    if lag_p99 > MAX_LAG_P99_US:
        reasons.append(f"sends ran late (lag p99 {lag_p99 / 1000:,.1f} ms)")
    if result.answered < result.sent:
        reasons.append(f"{result.sent - result.answered:,} requests unanswered")
    reply_rate = result.answered / result.finished_s if result.finished_s > 0 else 0.0
    if reply_rate < 0.98 * offered:
        reasons.append(f"replies fell behind ({reply_rate:,.0f}/s answered)")
    return reasons


def row(phase: Phase) -> list[str]:
    result = phase.result
    latencies = sorted(result.latencies_ns)
    lags = sorted(result.lags_ns)
    rate = result.answered / result.elapsed_s if result.elapsed_s > 0 else 0.0
    return [
        phase.name,
        "-" if phase.offered is None else f"{phase.offered:,.0f}",
        f"{rate:,.0f}",
        f"{result.places:,}",
        f"{result.cancels:,}",
        f"{result.traded:,}",
        f"{sum(result.errors.values()):,}",
        f"{percentile(latencies, 0.50) / 1000:,.0f}",
        f"{percentile(latencies, 0.99) / 1000:,.0f}",
        f"{percentile(latencies, 0.999) / 1000:,.0f}",
        f"{(latencies[-1] / 1000 if latencies else float('nan')):,.0f}",
        "-" if phase.offered is None else f"{percentile(lags, 0.99) / 1000:,.0f}",
        "/".join(str(size) for size in phase.book.values()),
    ]


def print_table(phases: list[Phase]) -> None:
    header = [
        "phase",
        "offered/s",
        "done/s",
        "places",
        "cancels",
        "traded",
        "refused",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "max us",
        "lag p99 us",
        "book BTC/ETH",
    ]
    rows = [header, *(row(phase) for phase in phases)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for index, cells in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(width) if column == 0 else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print()
    print("CPU while measuring, share of one core:")
    for phase in phases:
        busy = ", ".join(f"{name} {share:.0%}" for name, share in phase.cpu.items())
        print(f"  {phase.name}: {busy}")
    print()
    for phase in phases:
        if phase.result.errors:
            detail = ", ".join(f"{k}={v}" for k, v in sorted(phase.result.errors.items()))
            print(f"  {phase.name}: {detail}")
        if phase.offered is not None:
            reasons = shortfalls(phase)
            verdict = "NOT sustained: " + "; ".join(reasons) if reasons else "sustained"
            print(f"  {phase.name}: {verdict}")


def run(args: argparse.Namespace) -> list[Phase]:
    phases: list[Phase] = []
    with (
        tempfile.TemporaryDirectory(prefix="bourse-bench-") as folder,
        ExitStack() as stack,
    ):
        coordinator = ""
        if args.standbys:  # every engine and shard with a hot standby, etcd deciding
            coordinator = stack.enter_context(etcd(Path(folder) / "etcd")).endpoint
        running = stack.enter_context(
            cluster(
                Path(folder),
                fsync=args.fsync,
                busy_poll_us=args.busy_poll_us,
                snapshot_every=args.snapshot_every,
                curve=not args.no_curve,
                coordinator=coordinator,
            )
        )
        running.start_actors()
        if args.standbys:
            running.wait_in_sync()
        endpoints = [shard.routers for shard in running.config.shards]
        pids = ", ".join(f"{name}={p.pid}" for name, p in running.processes.items())
        print(f"actors: {pids}", flush=True)
        clients = Clients(endpoints, running.keys_dir, args)
        try:
            clients.run(("setup",), 120)
            seeded = clients.phase(("seed",), 120)
            print(
                f"seeded {seeded.places} orders; book {book_size(running)}; "
                f"{args.clients} clients x {args.users} users x {len(endpoints)} shards",
                flush=True,
            )
            warmup = min(2.0, args.duration)
            first = max(1, args.inflight[0] // args.clients)
            clients.phase(("closed", time.monotonic() + 0.2, warmup, first), warmup + 60)
            # The fixed rates first: the saturation phases write hundreds of megabytes of
            # journal, and the disk is still writing them back for a while afterwards.
            for rate in args.rates:
                command = ("open", time.monotonic() + 0.2, args.duration, rate / args.clients)
                phases.append(measure(running, clients, f"open loop {rate:,}/s", rate, command))
            for inflight in args.inflight:
                per_client = max(1, inflight // args.clients)
                name = f"saturation ({per_client * args.clients} in flight)"
                command = ("closed", time.monotonic() + 0.2, args.duration, per_client)
                phases.append(measure(running, clients, name, None, command))
        finally:
            clients.close()
    return phases


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--fsync", choices=["batch", "none"], default="batch")
    parser.add_argument(
        "--busy-poll-us", type=int, default=0, help="the actors' busy_poll_us (configs/*.toml)"
    )
    parser.add_argument(
        "--snapshot-every",
        type=int,
        default=100_000,
        help="the actors' journal.snapshot_every (records between snapshots)",
    )
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument(
        "--inflight",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[200, 400, 800, 1600],
        help="requests kept outstanding in the closed-loop phases, comma separated; "
        "saturation is the best of them",
    )
    parser.add_argument("--book", type=int, default=1000, help="resting orders to keep")
    parser.add_argument("--users", type=int, default=8, help="users per shard per client")
    parser.add_argument(
        "--rates",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1000, 10000],
        help="offered rates for the open-loop phases, comma separated",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-curve",
        action="store_true",
        help="run the bus without CURVE and ZAP (to measure what security costs)",
    )
    parser.add_argument(
        "--standbys",
        action="store_true",
        help="give every engine and shard a hot standby (and run etcd to elect leaders)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    phases = run(args)
    print()
    print(
        f"Order pipeline: {len(MARKETS)} engines + 2 accounts shards as processes, "
        f"{args.clients} client processes, fsync={args.fsync}, {args.duration:g} s per phase, "
        f"CURVE {'off' if args.no_curve else 'on'}, standbys {'on' if args.standbys else 'off'}"
    )
    print_table(phases)
    curve = not args.no_curve
    figures = {"curve": curve, "standbys": args.standbys, **summarize(phases)}
    print(json.dumps({"bench": "pipeline", **figures}))
    return 0


def summarize(phases: list[Phase]) -> dict[str, float]:
    """Saturation throughput (the best closed-loop phase) and the latency of the first
    fixed-rate phase."""
    closed = [phase.result for phase in phases if phase.offered is None]
    opened = [phase.result for phase in phases if phase.offered is not None]
    first = opened[0] if opened else closed[0]
    latencies = sorted(first.latencies_ns)
    return {
        "orders_per_s": round(max(result.answered / result.elapsed_s for result in closed)),
        "p50_us": round(percentile(latencies, 0.50) / 1000, 1),
        "p99_us": round(percentile(latencies, 0.99) / 1000, 1),
    }


if __name__ == "__main__":
    sys.exit(main())
