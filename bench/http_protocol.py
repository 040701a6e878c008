"""What the gateway's connection limits cost a request: ``BoundedHttpProtocol`` against
uvicorn's own ``HttpToolsProtocol``, side by side in one process.

What it measures: the time one keep-alive connection takes to parse a request, run an
ASGI app and write the answer, with each protocol class.  No sockets and no other
process: a transport in memory takes the writes, so what differs is the protocol's own
work (head accounting, timers, slots), not the machine's noise.  Blocks of requests
alternate between the two classes; the figure is the median block of each, and their
ratio.

- ``trivial``: an app that answers a fixed 200, so the protocol's cost shows whole;
  an order placement as the UI sends it (a 9-header head and a JSON body) in one read
  (the common case), then in two reads (head, body: the body timer is armed and
  disarmed once per request).
- ``gateway``: the gateway's own app (``gateway.app.asgi_app``, with its rate limits,
  request ids and metrics) on a config of the harness, with requests it answers without
  an actor: ``GET /api/v1/info`` and a withdrawal of an unknown asset (a user's key, a
  JSON body, answered 400), one read each.  This is the ratio a real request sees.

The last line of output is one JSON object: microseconds per request for each class,
app and read pattern, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from uvicorn.config import Config as UvicornConfig
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from bourse.config import load_config
from bourse.throttle import ConnectionSlots
from gateway.app import asgi_app
from gateway.http_protocol import BoundedHttpProtocol, ConnectionLimits
from harness.cluster import write_config

BODY = b'{"market":"BTC-USDT","side":"buy","type":"limit","price":"30000.00","qty":"0.1000"}'
HEAD = (
    b"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: bench\r\n"
    b"Accept: application/json\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
    b"Authorization: Bearer 1099511627777.Zq3vJd0Ue4mXb1WcR9sTn8yHkA2fL6gP\r\n"
    b"Content-Type: application/json\r\nX-Request-Id: bench-0001\r\n"
    + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
)
ANSWER = b'{"order_id":"1"}'
WITHDRAWAL = b'{"asset":"NOPE","amount":"1.5"}'
GATEWAY_REQUESTS = [
    b"GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: bench\r\n"
    b"Accept: application/json\r\n\r\n",
    HEAD.replace(b"/api/v1/orders", b"/api/v1/withdrawals").replace(
        f"Content-Length: {len(BODY)}".encode(), f"Content-Length: {len(WITHDRAWAL)}".encode()
    )
    + WITHDRAWAL,
]


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"16")],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER})


class MemoryTransport:
    """Takes writes; tells the waiting bench when an answer's body has been written."""

    def __init__(self) -> None:
        self.answered: asyncio.Future[None] | None = None
        self.closing = False

    def write(self, data: bytes) -> None:
        # Each app here writes an answer's head, then its body, a JSON object.
        if data.endswith(b"}") and self.answered is not None and not self.answered.done():
            self.answered.set_result(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def protocols(config: UvicornConfig) -> dict[str, functools.partial[Any]]:
    limits = ConnectionLimits(
        max_header_bytes=16_384,
        max_headers=100,
        header_timeout_s=10.0,
        body_timeout_s=10.0,
        slots=ConnectionSlots(4096, 256),
    )
    state = ServerState()
    common = {"config": config, "server_state": state, "app_state": {}}
    return {
        "uvicorn": functools.partial(HttpToolsProtocol, **common),
        "bounded": functools.partial(BoundedHttpProtocol, **common, limits=limits),
    }


async def block(make: functools.partial[Any], requests: list[list[bytes]], count: int) -> float:
    """Seconds per request over ``count`` requests on one connection, each request the
    next of ``requests`` (as its reads)."""
    loop = asyncio.get_running_loop()
    transport = MemoryTransport()
    protocol = make()
    protocol.connection_made(transport)
    started = time.perf_counter()
    for n in range(count):
        transport.answered = loop.create_future()
        for data in requests[n % len(requests)]:
            protocol.data_received(data)
        await transport.answered
    elapsed = time.perf_counter() - started
    protocol.connection_lost(None)
    return elapsed / count


def loaded(app: Any) -> UvicornConfig:
    config = UvicornConfig(
        app=app, lifespan="off", log_config=None, proxy_headers=False, timeout_keep_alive=5
    )
    config.load()
    return config


async def measure(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        gateway_app = asgi_app(load_config(write_config(Path(folder))))
    cases: dict[tuple[str, str], tuple[UvicornConfig, list[list[bytes]]]] = {
        ("trivial", "one read"): (loaded(app), [[HEAD + BODY]]),
        ("trivial", "two reads"): (loaded(app), [[HEAD, BODY]]),
        ("gateway", "one read"): (loaded(gateway_app), [[r] for r in GATEWAY_REQUESTS]),
    }
    makers = {case: protocols(config) for case, (config, _) in cases.items()}
    samples: dict[tuple[str, str, str], list[float]] = {
        (*case, name): [] for case in cases for name in makers[case]
    }
    for round_ in range(args.warmup + args.blocks):
        for case, (_, requests) in cases.items():
            for name, make in makers[case].items():
                seconds = await block(make, requests, args.requests)
                if round_ >= args.warmup:
                    samples[(*case, name)].append(seconds)
    result: dict[str, float] = {}
    print(f"{'app':>8} {'reads':>10} {'uvicorn us':>11} {'bounded us':>11} {'ratio':>7}")
    for app_name, pattern in cases:
        plain = statistics.median(samples[(app_name, pattern, "uvicorn")]) * 1e6
        bounded = statistics.median(samples[(app_name, pattern, "bounded")]) * 1e6
        print(
            f"{app_name:>8} {pattern:>10} {plain:>11.2f} {bounded:>11.2f} {bounded / plain:>7.3f}"
        )
        key = f"{app_name}_{pattern.replace(' ', '_')}"
        result[f"{key}_uvicorn_us"] = round(plain, 2)
        result[f"{key}_bounded_us"] = round(bounded, 2)
        result[f"{key}_ratio"] = round(bounded / plain, 3)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=1000, help="requests per block")
    parser.add_argument("--blocks", type=int, default=15, help="blocks per class and case")
    parser.add_argument("--warmup", type=int, default=2, help="blocks before measuring")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    result = uvloop.run(measure(parse_args(argv)))
    print(json.dumps({"bench": "http_protocol", **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
