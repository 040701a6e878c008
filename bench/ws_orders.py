"""Order entry over WebSocket against REST: place and cancel, end to end, in one session.

What it measures: the latency and throughput of placing an order and cancelling it over
the gateway's order entry WebSocket (``/api/v1/ws``: one connection per client, answers
matched by id, several orders in flight on each), beside the same work over REST
(``bench/http_api.py``'s client), against the same exchange, phases alternating.

How:
- ``bench.http_api`` starts the exchange (two engines, two shards, the gateway with
  ``--workers`` workers) on free ports and makes the users; one client process (uvloop)
  runs every phase, so both protocols meet the same processes, state and machine.
- An *order* is a GTC limit buy well below the market (it rests, never trades) and its
  cancel, sent as soon as the place is answered.  Figures count requests (a place and
  its cancel are two), as ``bench/http_api.py`` does.
- Fixed rate (``--rate``, default 500 requests/s): places start on a timetable, open
  loop; a place's latency runs from its scheduled start, a cancel's from its place's
  answer.  REST uses a pool of keep-alive connections (``--http-connections``); the
  WebSocket side as many connections as there are users, one per user, pipelined.
- Saturation: REST with every connection busy (one request at a time each, the best
  of ``--http-connections``); WebSocket with ``--depth`` orders in flight on each of
  its connections (the best of each depth given).
- ``--rounds`` times over, the phases alternate REST, WebSocket, REST, WebSocket: the
  machine is shared and noisy, so the figures compared are those of one session; the
  best round of each is reported.

The last line is one JSON object: WebSocket requests/s at saturation, its p50 and p99 at
the fixed rate, and REST's saturation requests/s and p50 at the fixed rate.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect

from bench.http_api import (
    MARKETS,
    HttpConnection,
    PhaseResult,
    Trader,
    run_client,
    summary,
)
from bench.http_api import fixed_rate as http_fixed_rate
from bench.http_api import saturation as http_saturation
from harness.cluster import cluster

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class OrderEntry:
    """One order entry connection: requests go out at once, answers find their future."""

    def __init__(self, conn: ClientConnection, key: str, seed: int) -> None:
        self.conn = conn
        self.key = key
        self.random = random.Random(seed)
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int, key: str, seed: int) -> OrderEntry:
        conn = await connect(f"ws://127.0.0.1:{port}/api/v1/ws", compression=None, max_queue=None)
        entry = cls(conn, key, seed)
        answer = await entry.call("auth", None, api_key=key)
        if answer["status"] != 200:
            raise RuntimeError(f"auth refused: {answer}")
        return entry

    async def _read(self) -> None:
        async for message in self.conn:
            answer = _decode(message)
            future = self.waiting.pop(answer["id"], None)
            if future is not None and not future.done():
                future.set_result(answer)

    async def call(self, op: str, params: Any = None, **fields: Any) -> dict[str, Any]:
        request_id = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        message: dict[str, Any] = {"id": request_id, "op": op, **fields}
        if params is not None:
            message["params"] = params
        await self.conn.send(_encode(message).decode())
        return await future

    def place_params(self) -> dict[str, str]:
        market = self.random.choice(list(MARKETS))
        low, high, qty = MARKETS[market]
        price = f"{self.random.randint(int(low), int(high))}.{self.random.randint(0, 99):02d}"
        return {"market": market, "side": "buy", "type": "limit", "price": price, "qty": qty}

    async def order(self, started_ns: int, result: PhaseResult) -> None:
        """Place, then cancel, on this connection (other orders may be in flight)."""
        placed = await self.call("order.place", self.place_params())
        placed_ns = time.perf_counter_ns()
        result.requests += 1
        if placed["status"] != 201:
            result.errors[f"place {placed['status']}"] += 1
            return
        result.place_ns.append(placed_ns - started_ns)
        order_id = placed["result"]["order_id"]
        cancelled = await self.call("order.cancel", {"order_id": order_id})
        result.requests += 1
        if cancelled["status"] != 200:
            result.errors[f"cancel {cancelled['status']}"] += 1
            return
        result.cancel_ns.append(time.perf_counter_ns() - placed_ns)

    async def close(self) -> None:
        self.reader.cancel()
        await self.conn.close()


async def ws_fixed_rate(entries: list[OrderEntry], rate: int, duration_s: float) -> PhaseResult:
    result = PhaseResult(f"ws {rate}/s")
    interval_ns = int(2e9 / rate)  # one order is two requests
    count = int(duration_s * rate / 2)
    tasks = []
    start_ns = time.perf_counter_ns()
    for index in range(count):
        scheduled_ns = start_ns + index * interval_ns
        delay = (scheduled_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        entry = entries[index % len(entries)]
        tasks.append(asyncio.create_task(entry.order(scheduled_ns, result)))
    await asyncio.gather(*tasks)
    result.elapsed_s = (time.perf_counter_ns() - start_ns) / 1e9
    return result


async def ws_saturation(entries: list[OrderEntry], depth: int, duration_s: float) -> PhaseResult:
    result = PhaseResult(f"ws sat {len(entries)}x{depth}")
    deadline = time.perf_counter() + duration_s

    async def loop(entry: OrderEntry) -> None:
        while time.perf_counter() < deadline:
            await entry.order(time.perf_counter_ns(), result)

    start = time.perf_counter()
    await asyncio.gather(*(loop(entry) for entry in entries for _ in range(depth)))
    result.elapsed_s = time.perf_counter() - start
    return result


async def client_main(
    port: int, keys: list[str], args: argparse.Namespace, out: Connection
) -> list[PhaseResult]:
    trader = Trader(f"127.0.0.1:{port}", keys, args.seed)
    pool = [await HttpConnection.open("127.0.0.1", port) for _ in range(max(args.http_connections))]
    entries = [
        await OrderEntry.open(port, key, args.seed + number) for number, key in enumerate(keys)
    ]
    results: list[PhaseResult] = []

    async def measured(phase: Any) -> None:
        out.send("start")  # the parent reads every process's CPU time at the marks
        results.append(await phase)
        out.send("end")

    try:
        await http_fixed_rate(trader, pool, args.rate, args.warmup)
        await ws_fixed_rate(entries, args.rate, args.warmup)
        for _ in range(args.rounds):
            await measured(http_fixed_rate(trader, pool, args.rate, args.duration))
            await measured(ws_fixed_rate(entries, args.rate, args.duration))
            for connections in args.http_connections:
                await measured(http_saturation(trader, pool[:connections], args.duration))
            for depth in args.depth:
                await measured(ws_saturation(entries, depth, args.duration))
        return results
    finally:
        for connection in pool:
            connection.close()
        for entry in entries:
            await entry.close()


def client_process(port: int, keys: list[str], args: argparse.Namespace, out: Connection) -> None:
    import uvloop

    out.send(uvloop.run(client_main(port, keys, args, out)))
    out.close()


def run(args: argparse.Namespace) -> list[PhaseResult]:
    with (
        tempfile.TemporaryDirectory() as folder,
        cluster(Path(folder), fsync=args.fsync, gateway_workers=args.workers) as running,
    ):
        return run_client(running, client_process, args)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    numbers = lambda text: [int(n) for n in text.split(",")]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--rate", type=int, default=500, help="fixed rate, requests/s")
    parser.add_argument("--rounds", type=int, default=2, help="REST / WebSocket alternations")
    parser.add_argument(
        "--http-connections",
        type=numbers,
        default=[32, 128],
        help="REST keep-alive connections: one saturation phase for each number",
    )
    parser.add_argument(
        "--depth",
        type=numbers,
        default=[8, 32],
        help="orders in flight on each WebSocket: one saturation phase for each number",
    )
    parser.add_argument("--users", type=int, default=8, help="and WebSocket connections")
    parser.add_argument("--workers", type=int, default=2, help="the gateway's uvicorn workers")
    parser.add_argument("--fsync", choices=("batch", "none"), default="batch")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    print(
        f"{'phase':>16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9}  "
        "CPU us/request: gateway shards engines client  errors"
    )
    rows = [(result, summary(result)) for result in results]
    for result, s in rows:
        print(
            f"{result.name:>16} {s['requests_per_s']:>9.0f} {s['p50_ms']:>8.2f} "
            f"{s['p99_ms']:>8.2f} {s['p999_ms']:>9.2f}  "
            f"{s['gateway_cpu_us']:>22.0f} {s['shards_cpu_us']:>6.0f} "
            f"{s['engines_cpu_us']:>7.0f} {s['client_cpu_us']:>6.0f}  "
            f"{dict(result.errors) or '-'}"
        )

    def best(prefix: str, key: str, smallest: bool = False) -> float:
        values = [s[key] for result, s in rows if result.name.startswith(prefix)]
        return min(values) if smallest else max(values)

    ws_rate, http_rate = f"ws {args.rate}/s", f"{args.rate}/s"
    ws_at_rate = min((s for r, s in rows if r.name == ws_rate), key=lambda s: s["p50_ms"])
    print(
        json.dumps(
            {
                "bench": "ws_orders",
                "orders_per_s": round(best("ws sat", "requests_per_s")),
                "p50_ms": round(ws_at_rate["p50_ms"], 3),
                "p99_ms": round(ws_at_rate["p99_ms"], 3),
                "http_orders_per_s": round(best("saturation", "requests_per_s")),
                "http_p50_ms": round(best(http_rate, "p50_ms", smallest=True), 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
