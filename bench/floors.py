"""What this machine allows at best: the latency floors under the order path.

An order placed through the actors crosses two request/reply hops (client <-> shard,
shard <-> engine, over the local socket when they share a host) and, with
``fsync = "batch"``, waits for two journal commits (the shard's before it forwards the
order, the engine's before it reports).  Whatever the actors do, an order cannot come
back faster than two bare round trips plus two commits, so this measures both, with
nothing of Bourse in the way:

1. Commit: a 200-byte append to a file in ``--folder`` (default: ``$BOURSE_DATA_DIR`` or
   ``./data``, where the journals live) followed by ``fdatasync``, one at a time, alone
   and with three writers at once (an order's shard and engine commit concurrently with
   other actors' commits); and the CPU a commit costs the process that makes it (on a
   virtual disk the flush is not free: it is paid again at every journal commit).
2. Round trip: a pyzmq DEALER in this process and a ROUTER echo in another, one message
   in flight, over tcp on 127.0.0.1 and then over a local socket (the abstract-namespace
   Unix socket processes of one host use), paced at ``--pace-us`` between requests like
   a light load; the CPU both processes spend per round trip (from /proc).

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import zmq

from bench.proc import cpu_seconds
from bench.stats import percentiles

PAYLOAD = b"x" * 200


def commit_latencies(folder: str, count: int, pace_s: float) -> list[float]:
    with tempfile.NamedTemporaryFile(dir=folder) as handle:
        descriptor = os.open(handle.name, os.O_WRONLY | os.O_APPEND)
        latencies = []
        try:
            for _ in range(count):
                started = time.perf_counter()
                os.write(descriptor, PAYLOAD)
                os.fdatasync(descriptor)
                latencies.append(time.perf_counter() - started)
                time.sleep(pace_s)
        finally:
            os.close(descriptor)
    return sorted(latencies)


def _writer(folder: str, count: int, pace_s: float, results: multiprocessing.Queue[float]) -> None:
    for value in commit_latencies(folder, count, pace_s):
        results.put(value)


def concurrent_commit_latencies(folder: str, count: int, pace_s: float) -> list[float]:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[float] = context.Queue()
    writers = [
        context.Process(target=_writer, args=(folder, count, pace_s, results)) for _ in range(3)
    ]
    for writer in writers:
        writer.start()
    values = [results.get(timeout=120) for _ in range(3 * count)]
    for writer in writers:
        writer.join()
    return sorted(values)


def _echo(endpoint: str) -> None:
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind(endpoint)
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    while True:
        poller.poll(100)
        while True:
            try:
                frames = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            router.send_multipart(frames)


def round_trips(count: int, pace_s: float, local: bool) -> tuple[list[float], float, float]:
    """Sorted round-trip times, and CPU seconds per round trip: echo side, client side;
    over tcp, or over a local socket like processes of the same host."""
    with socket_port() as port:
        endpoint = f"ipc://@bourse-floors-{port}" if local else f"tcp://127.0.0.1:{port}"
    context = multiprocessing.get_context("spawn")
    echo = context.Process(target=_echo, args=(endpoint,), daemon=True)
    echo.start()
    client_context = zmq.Context()
    dealer = client_context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(endpoint)
    try:
        dealer.send(b"hello")
        if not dealer.poll(20_000):
            raise RuntimeError("the echo process did not answer")
        dealer.recv()
        assert echo.pid is not None
        echo_cpu, own_cpu = cpu_seconds(echo.pid), time.process_time()
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            dealer.send(b"hello")
            dealer.recv()
            latencies.append(time.perf_counter() - started)
            time.sleep(pace_s)
        echo_cpu = cpu_seconds(echo.pid) - echo_cpu
        own_cpu = time.process_time() - own_cpu
    finally:
        dealer.close(linger=0)
        client_context.destroy(linger=0)
        echo.kill()
        echo.join()
    return sorted(latencies), echo_cpu / count, own_cpu / count


class socket_port:
    """A free port on 127.0.0.1 (closed again before use)."""

    def __enter__(self) -> int:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        port: int = self._socket.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self._socket.close()


def describe(name: str, values: list[float]) -> dict[str, float]:
    p50, p99, p999 = percentiles(values, 0.50, 0.99, 0.999)
    row = {
        "p50_us": round(p50 * 1e6, 1),
        "p99_us": round(p99 * 1e6, 1),
        "p999_us": round(p999 * 1e6, 1),
    }
    print(
        f"{name:34s} p50 {row['p50_us']:8.1f} us  p99 {row['p99_us']:8.1f}  "
        f"p99.9 {row['p999_us']:8.1f}"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_folder = os.environ.get("BOURSE_DATA_DIR", "data")
    parser.add_argument("--folder", default=default_folder, help="where to write")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--pace-us", type=float, default=500.0)
    args = parser.parse_args()
    Path(args.folder).mkdir(parents=True, exist_ok=True)
    pace_s = args.pace_us / 1e6

    cpu_before = time.process_time()
    alone = describe(
        "append + fdatasync, one writer", commit_latencies(args.folder, args.count, pace_s)
    )
    commit_cpu = (time.process_time() - cpu_before) / args.count
    print(f"{'CPU per commit':34s} {commit_cpu * 1e6:.0f} us")
    three = describe(
        "append + fdatasync, three writers",
        concurrent_commit_latencies(args.folder, args.count // 2, pace_s),
    )
    latencies, echo_cpu, client_cpu = round_trips(args.count, pace_s, local=False)
    trip = describe("DEALER-ROUTER round trip, tcp", latencies)
    print(
        f"{'CPU per round trip':34s} echo {echo_cpu * 1e6:.0f} us, client {client_cpu * 1e6:.0f} us"
    )
    local_latencies, local_echo_cpu, local_client_cpu = round_trips(args.count, pace_s, local=True)
    local_trip = describe("the same, local socket", local_latencies)
    print(
        f"{'CPU per round trip':34s} echo {local_echo_cpu * 1e6:.0f} us, "
        f"client {local_client_cpu * 1e6:.0f} us"
    )
    # The actors of one host reach each other through the local socket.
    floor = 2 * local_trip["p50_us"] + 2 * three["p50_us"]
    print(f"{'order floor (2 trips + 2 commits)':34s} p50 {floor:8.1f} us")
    print(
        json.dumps(
            {
                "bench": "floors",
                "commit_p50_us": alone["p50_us"],
                "commit_concurrent_p50_us": three["p50_us"],
                "commit_cpu_us": round(commit_cpu * 1e6, 1),
                "round_trip_p50_us": trip["p50_us"],
                "round_trip_cpu_us": round((echo_cpu + client_cpu) * 1e6, 1),
                "local_round_trip_p50_us": local_trip["p50_us"],
                "local_round_trip_cpu_us": round((local_echo_cpu + local_client_cpu) * 1e6, 1),
                "order_floor_p50_us": round(floor, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
