"""HTTP gateway benchmark: order placement and cancellation over REST, end to end.

What it measures: the latency and throughput of ``POST /api/v1/orders`` and
``DELETE /api/v1/orders/{id}`` as a client sees them, through the whole system: HTTP
parsing, validation and authentication in the gateway, the accounts shard, the matching
engine, and back.

How:
- ``tests/harness.py`` writes a config on free 127.0.0.1 ports into a temporary folder
  and starts two engines (BTC-USDT, ETH-USDT), two accounts shards and the gateway
  (``bourse run gateway`` with ``--workers`` uvicorn workers, default 2: one per core,
  as in ``configs/cluster-example.toml``) as real processes; all are stopped and the
  folder removed at the end.
- Users (spread over both shards by sign-up) get funds through the faucet.
- One client process (uvloop) keeps ``--connections`` HTTP/1.1 keep-alive connections
  and speaks HTTP with asyncio streams (no client library on the hot path).  Each
  *order* is a GTC limit buy well below the market (it rests, never trades), then the
  cancel of that order as soon as the place is answered, so the books stay small.
- Fixed rates (``--rates``, default 500/s and 2,000/s requests, places and cancels
  together): open loop; places start on a timetable at half the rate, each cancel
  follows its place.  A place's latency runs from its scheduled start (so waiting for a
  free connection counts), a cancel's from when its place was answered.  They may use
  every connection (the most ``--connections`` names), as many clients would: with
  only 32, 2,000/s is capped by the client's own pool once latency passes 16 ms.
- Saturation: every connection runs place, cancel, place, ... as fast as answers come,
  once for each number in ``--connections`` (default 32, 128 and 256); the figure is
  the best of them.  More connections keep more requests in flight, so the gateway and
  the actors each handle more of them per wake-up, until only the latency grows.
- Batches against single requests, at saturation on ``--batch-connections``
  connections: each connection places ``--batch-size`` (20) orders of one user and
  cancels them, again and again, either as 20 single places and 20 single cancels, or
  as one ``POST /api/v1/orders/batch`` and one ``POST /api/v1/orders/batch-cancel``.
  The two alternate (``--batch-rounds`` pairs, default 2), so that a ratio measured side
  by side in one run says which is faster on this noisy machine; the figure is
  orders placed (and cancelled) per second.

The last line of output is one JSON object: requests/s at saturation, p50 / p99 in
milliseconds at the first fixed rate, and orders/s by batch and by single requests and
their ratio (each the median over the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import msgspec

from bench.proc import children, cpu_seconds
from bench.stats import percentiles
from harness.cluster import Cluster, cluster

MARKETS = {"BTC-USDT": ("1000", "2000", "0.01"), "ETH-USDT": ("100", "200", "0.1")}
FUNDS = {"USDT": "1000000000"}


@dataclass(slots=True)
class PhaseResult:
    name: str
    requests: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    place_ns: array[int] = field(default_factory=lambda: array("q"))
    cancel_ns: array[int] = field(default_factory=lambda: array("q"))
    orders: int = 0  # orders placed (and cancelled after), for the batch comparison


class HttpConnection:
    """One keep-alive HTTP/1.1 connection: a request, then its response, and again."""

    # uvicorn closes a connection idle for 5 s; one idle for longer than this is
    # replaced before it is used, so no request ever meets a connection closing under it.
    IDLE_S = 4.0

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.last_used = 0.0

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        connection = cls(host, port)
        await connection.connect()
        return connection

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.last_used = time.monotonic()

    async def call(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        if time.monotonic() - self.last_used > self.IDLE_S:
            self.close()
            await self.connect()
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        self.last_used = time.monotonic()
        return status, payload

    def close(self) -> None:
        self.writer.close()


class Trader:
    def __init__(self, host: str, keys: list[str], seed: int) -> None:
        self.host = host
        self.keys = keys
        self.random = random.Random(seed)
        self.decode = msgspec.json.Decoder()

    def resting_order(self) -> dict[str, str]:
        """A GTC limit buy well below the market: it rests, never trades."""
        market = self.random.choice(list(MARKETS))
        low, high, qty = MARKETS[market]
        price = f"{self.random.randint(int(low), int(high))}.{self.random.randint(0, 99):02d}"
        return {"market": market, "side": "buy", "type": "limit", "price": price, "qty": qty}

    def post(self, path: str, key: str, body: bytes) -> bytes:
        return (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()

    def place_request(self) -> tuple[bytes, bytes, str]:
        key = self.random.choice(self.keys)
        body = msgspec.json.encode(self.resting_order())
        return self.post("/api/v1/orders", key, body), body, key

    def cancel_request(self, key: str, order_id: str) -> bytes:
        return (
            f"DELETE /api/v1/orders/{order_id} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {key}\r\n\r\n"
        ).encode()

    async def order(self, connection: HttpConnection, started_ns: int, result: PhaseResult) -> None:
        """Place, then cancel: two requests on one connection."""
        head, body, key = self.place_request()
        status, payload = await connection.call(head, body)
        placed_ns = time.perf_counter_ns()
        result.requests += 1
        if status != 201:
            result.errors[f"place {status}"] += 1
            return
        result.place_ns.append(placed_ns - started_ns)
        order_id = self.decode.decode(payload)["order_id"]
        status, _ = await connection.call(self.cancel_request(key, order_id))
        result.requests += 1
        if status != 200:
            result.errors[f"cancel {status}"] += 1
            return
        result.cancel_ns.append(time.perf_counter_ns() - placed_ns)
        result.orders += 1

    async def batch(self, connection: HttpConnection, size: int, result: PhaseResult) -> None:
        """``size`` orders of one user placed by one batch, then cancelled by another."""
        key = self.random.choice(self.keys)
        body = msgspec.json.encode({"orders": [self.resting_order() for _ in range(size)]})
        started_ns = time.perf_counter_ns()
        status, payload = await connection.call(self.post("/api/v1/orders/batch", key, body), body)
        placed_ns = time.perf_counter_ns()
        result.requests += 1
        if status != 200:
            result.errors[f"batch {status}"] += 1
            return
        result.place_ns.append(placed_ns - started_ns)
        entries = self.decode.decode(payload)
        ids = [entry["order"]["order_id"] for entry in entries if entry["status"] == 201]
        result.orders += len(ids)
        for entry in entries:
            if entry["status"] != 201:
                result.errors[f"batch item {entry['status']}"] += 1
        if not ids:
            return
        body = msgspec.json.encode({"order_ids": ids})
        head = self.post("/api/v1/orders/batch-cancel", key, body)
        status, payload = await connection.call(head, body)
        result.requests += 1
        if status != 200:
            result.errors[f"batch-cancel {status}"] += 1
            return
        result.cancel_ns.append(time.perf_counter_ns() - placed_ns)
        for entry in self.decode.decode(payload):
            if entry["status"] != 200:
                result.errors[f"batch-cancel item {entry['status']}"] += 1

    async def singles(self, connection: HttpConnection, size: int, result: PhaseResult) -> None:
        """``size`` orders, each placed and cancelled by single requests."""
        for _ in range(size):
            await self.order(connection, time.perf_counter_ns(), result)


async def fixed_rate(
    trader: Trader, pool: list[HttpConnection], rate: int, duration_s: float
) -> PhaseResult:
    result = PhaseResult(f"{rate}/s")
    free: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for connection in pool:
        free.put_nowait(connection)
    interval_ns = int(2e9 / rate)  # one order is two requests
    count = int(duration_s * rate / 2)
    tasks = []

    async def one(scheduled_ns: int) -> None:
        connection = await free.get()
        try:
            await trader.order(connection, scheduled_ns, result)
        finally:
            free.put_nowait(connection)

    start_ns = time.perf_counter_ns()
    for index in range(count):
        scheduled_ns = start_ns + index * interval_ns
        delay = (scheduled_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled_ns)))
    await asyncio.gather(*tasks)
    result.elapsed_s = (time.perf_counter_ns() - start_ns) / 1e9
    return result


async def saturation(trader: Trader, pool: list[HttpConnection], duration_s: float) -> PhaseResult:
    result = PhaseResult(f"saturation {len(pool)}")
    deadline = time.perf_counter() + duration_s

    async def loop(connection: HttpConnection) -> None:
        while time.perf_counter() < deadline:
            await trader.order(connection, time.perf_counter_ns(), result)

    start = time.perf_counter()
    await asyncio.gather(*(loop(connection) for connection in pool))
    result.elapsed_s = time.perf_counter() - start
    return result


async def batch_saturation(
    trader: Trader, pool: list[HttpConnection], size: int, batched: bool, duration_s: float
) -> PhaseResult:
    way = "by batch" if batched else "single"
    result = PhaseResult(f"{size} {way}")
    deadline = time.perf_counter() + duration_s
    step = trader.batch if batched else trader.singles

    async def loop(connection: HttpConnection) -> None:
        while time.perf_counter() < deadline:
            await step(connection, size, result)

    start = time.perf_counter()
    await asyncio.gather(*(loop(connection) for connection in pool))
    result.elapsed_s = time.perf_counter() - start
    return result


async def client_main(
    port: int, keys: list[str], args: argparse.Namespace, out: Connection
) -> list[PhaseResult]:
    trader = Trader(f"127.0.0.1:{port}", keys, args.seed)
    most = max([*args.connections, args.batch_connections])
    pool = [await HttpConnection.open("127.0.0.1", port) for _ in range(most)]
    try:
        await fixed_rate(trader, pool, min(args.rates), args.warmup)
        results = []
        if not args.batches_only:
            for rate in args.rates:
                out.send("start")  # the parent reads every process's CPU time at the marks
                results.append(await fixed_rate(trader, pool, rate, args.duration))
                out.send("end")
            for connections in args.connections:
                out.send("start")
                results.append(await saturation(trader, pool[:connections], args.duration))
                out.send("end")
        batch_pool = pool[: args.batch_connections]
        for _ in range(args.batch_rounds):
            for batched in (False, True):
                out.send("start")
                results.append(
                    await batch_saturation(
                        trader, batch_pool, args.batch_size, batched, args.duration
                    )
                )
                out.send("end")
        return results
    finally:
        for connection in pool:
            connection.close()


def client_process(port: int, keys: list[str], args: argparse.Namespace, out: Connection) -> None:
    import uvloop

    out.send(uvloop.run(client_main(port, keys, args, out)))
    out.close()


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def start_exchange(running: Cluster) -> str:
    running.start_actors()
    running.start("gateway", "gateway")
    base = f"http://127.0.0.1:{running.config.gateway.port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/api/v1/health", timeout=5).status_code in (200, 503):
                return base
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(running.read_log("gateway")) from None
            time.sleep(0.05)


def make_users(base: str, count: int) -> list[str]:
    keys = []
    with httpx.Client(base_url=base) as http:
        for _ in range(count):
            key = http.post("/api/v1/users").raise_for_status().json()["api_key"]
            for asset, amount in FUNDS.items():
                http.post(
                    "/api/v1/deposits",
                    json={"asset": asset, "amount": amount},
                    headers={"Authorization": f"Bearer {key}"},
                ).raise_for_status()
            keys.append(key)
    return keys


def cpu_per_request_us(result: PhaseResult, prefix: str) -> float:
    spent = sum(seconds for name, seconds in result.cpu_s.items() if name.startswith(prefix))
    return spent / result.requests * 1e6 if result.requests else float("nan")


def summary(result: PhaseResult) -> dict[str, float]:
    both = [*result.place_ns, *result.cancel_ns]
    p50, p99, p999 = (ns / 1e6 for ns in percentiles(both, 0.50, 0.99, 0.999))
    place_p50, place_p99 = (ns / 1e6 for ns in percentiles(result.place_ns, 0.50, 0.99))
    cancel_p50, cancel_p99 = (ns / 1e6 for ns in percentiles(result.cancel_ns, 0.50, 0.99))
    return {
        "gateway_cpu_us": cpu_per_request_us(result, "gateway"),
        "shards_cpu_us": cpu_per_request_us(result, "accounts"),
        "engines_cpu_us": cpu_per_request_us(result, "engine"),
        "client_cpu_us": cpu_per_request_us(result, "client"),
        "requests_per_s": result.requests / result.elapsed_s if result.elapsed_s else 0.0,
        "p50_ms": p50,
        "p99_ms": p99,
        "p999_ms": p999,
        "place_p50_ms": place_p50,
        "place_p99_ms": place_p99,
        "cancel_p50_ms": cancel_p50,
        "cancel_p99_ms": cancel_p99,
    }


def run(args: argparse.Namespace) -> list[PhaseResult]:
    with (
        tempfile.TemporaryDirectory() as folder,
        cluster(
            Path(folder),
            fsync=args.fsync,
            busy_poll_us=args.busy_poll_us,
            gateway_workers=args.workers,
            curve=not args.no_curve,
        ) as running,
    ):
        return run_client(running, client_process, args)


ClientProcess = Callable[[int, list[str], argparse.Namespace, Connection], None]


def run_client(
    running: Cluster, target: ClientProcess, args: argparse.Namespace
) -> list[PhaseResult]:
    """Users made on the running exchange, then ``target`` run in a process of its own on
    them; each phase's results with the CPU every process spent in it."""
    base = start_exchange(running)
    keys = make_users(base, args.users)
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    client = context.Process(target=target, args=(running.config.gateway.port, keys, args, send))
    client.start()
    send.close()  # so that a client that dies ends the wait below instead of hanging
    pids = {name: process.pid for name, process in running.processes.items()}
    for worker in children(pids["gateway"]):
        pids[f"gateway worker {worker}"] = worker
    pids["client"] = client.pid or 0
    spent: list[dict[str, float]] = []
    while (message := receive.recv()) == "start":
        before = cpu_snapshot(pids)
        assert receive.recv() == "end"
        after = cpu_snapshot(pids)
        spent.append({name: after[name] - before[name] for name in pids})
    results: list[PhaseResult] = message
    client.join()
    for result, cpu in zip(results, spent, strict=True):
        result.cpu_s = cpu
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument(
        "--rates",
        type=lambda text: [int(r) for r in text.split(",")],
        default=[500, 2000],
        help="fixed request rates, comma separated (default 500,2000)",
    )
    parser.add_argument(
        "--connections",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[32, 128, 256],
        help="keep-alive connections, comma separated: the fixed rates may use them "
        "all, and there is one saturation phase for each number",
    )
    parser.add_argument("--workers", type=int, default=2, help="the gateway's uvicorn workers")
    parser.add_argument(
        "--fsync",
        choices=("batch", "none"),
        default="batch",
        help="the journals' fsync (batch: durable acks, as the targets assume)",
    )
    parser.add_argument(
        "--busy-poll-us", type=int, default=0, help="the actors' busy_poll_us (configs/*.toml)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=20, help="orders per batch (the API takes 1 to 20)"
    )
    parser.add_argument(
        "--batch-connections",
        type=int,
        default=32,
        help="keep-alive connections of the batch and single phases",
    )
    parser.add_argument(
        "--batch-rounds",
        type=int,
        default=2,
        help="pairs of phases (single requests, then batches) run one after the other",
    )
    parser.add_argument(
        "--batches-only",
        action="store_true",
        help="run only the batch and single phases (after the warm-up)",
    )
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-curve",
        action="store_true",
        help="run the bus without CURVE and ZAP (to measure what security costs)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    summaries = [summary(result) for result in results]
    comparisons = len(results) - 2 * args.batch_rounds
    if comparisons:
        print(
            f"{'phase':>14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9}  "
            f"{'place p50/p99':>14} {'cancel p50/p99':>15}  "
            "CPU us/request: gateway shards engines client  errors"
        )
    for result, s in zip(results[:comparisons], summaries, strict=False):
        print(
            f"{result.name:>14} {s['requests_per_s']:>9.0f} {s['p50_ms']:>8.2f} "
            f"{s['p99_ms']:>8.2f} {s['p999_ms']:>9.2f}  "
            f"{s['place_p50_ms']:>6.2f}/{s['place_p99_ms']:<7.2f} "
            f"{s['cancel_p50_ms']:>7.2f}/{s['cancel_p99_ms']:<7.2f}  "
            f"{s['gateway_cpu_us']:>22.0f} {s['shards_cpu_us']:>6.0f} {s['engines_cpu_us']:>7.0f} "
            f"{s['client_cpu_us']:>6.0f}  {dict(result.errors) or '-'}"
        )
    figures: dict[str, object] = {"bench": "http", "curve": not args.no_curve}
    if comparisons:
        first = summaries[0]
        saturated = summaries[len(args.rates) : comparisons]
        figures["orders_per_s"] = round(max(s["requests_per_s"] for s in saturated))
        figures["p50_ms"] = round(first["p50_ms"], 3)
        figures["p99_ms"] = round(first["p99_ms"], 3)
    if args.batch_rounds:
        figures.update(compare_batches(results[comparisons:], args.batch_size))
    print(json.dumps(figures))
    return 0


def compare_batches(results: list[PhaseResult], size: int) -> dict[str, object]:
    """Prints the alternating single and batch phases; their figures for the JSON line."""
    print(
        f"\n{'phase':>14} {'orders/s':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  "
        "CPU us/order: gateway shards engines client  errors"
    )
    singles: list[float] = []
    batches: list[float] = []
    for result in results:
        s = summary(result)
        orders_s = result.orders / result.elapsed_s if result.elapsed_s else 0.0
        (batches if result.name.endswith("by batch") else singles).append(orders_s)
        per_order = result.requests / result.orders if result.orders else float("nan")
        print(
            f"{result.name:>14} {orders_s:>9.0f} {s['requests_per_s']:>8.0f} "
            f"{s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f}  "
            f"{s['gateway_cpu_us'] * per_order:>20.0f} {s['shards_cpu_us'] * per_order:>6.0f} "
            f"{s['engines_cpu_us'] * per_order:>7.0f} {s['client_cpu_us'] * per_order:>6.0f}  "
            f"{dict(result.errors) or '-'}"
        )
    ratios = [batch / single for single, batch in zip(singles, batches, strict=True) if single]
    print(f"batches / singles, round by round: {', '.join(f'{r:.1f}x' for r in ratios)}")
    return {
        "batch_size": size,
        "single_orders_per_s": round(statistics.median(singles)),
        "batch_orders_per_s": round(statistics.median(batches)),
        "batch_speedup": round(statistics.median(ratios), 2) if ratios else None,
    }


if __name__ == "__main__":
    sys.exit(main())
